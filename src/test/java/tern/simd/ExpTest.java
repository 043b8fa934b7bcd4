package tern.simd;

import jdk.incubator.vector.FloatVector;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.FloatRange;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The deterministic exp: accuracy against StrictMath, scalar == vector bit for bit, edge cases. */
class ExpTest {

    @Property(tries = 3000)
    void withinTwoUlpOfTheTrueValue(@ForAll @FloatRange(min = -87f, max = 88.5f) float x) {
        double exact = StrictMath.exp(x);
        float got = Exp.exp(x);
        assertTrue(Math.abs(got - exact) <= 2 * Math.ulp((float) exact), () -> "exp(" + x + ") = " + got + ", true " + exact);
    }

    @Property(tries = 300)
    void vectorEqualsScalarBitForBit(@ForAll @FloatRange(min = -120f, max = 120f) float base) {
        var species = FloatVector.SPECIES_PREFERRED;
        float[] in = new float[species.length()];
        for (int i = 0; i < in.length; i++) in[i] = base + i * 0.37f - 3f;
        in[0] = base;
        float[] out = new float[in.length];
        ExpVector.exp(FloatVector.fromArray(species, in, 0)).intoArray(out, 0);
        for (int i = 0; i < in.length; i++)
            assertEquals(Float.floatToRawIntBits(Exp.exp(in[i])), Float.floatToRawIntBits(out[i]), "lane " + i + " x=" + in[i]);
    }

    @Test
    void edges() {
        assertEquals(1f, Exp.exp(0f));
        assertEquals(0f, Exp.exp(-100f));
        assertEquals(0f, Exp.exp(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, Exp.exp(100f));
        assertTrue(Float.isNaN(Exp.exp(Float.NaN)));
        assertTrue(Float.isFinite(Exp.exp(88.72f)));
        float[] in = {0f, -100f, Float.NEGATIVE_INFINITY, 100f, Float.NaN, 88.72f, -87.3f, 1f};
        var species = FloatVector.SPECIES_256;
        float[] out = new float[8];
        ExpVector.exp(FloatVector.fromArray(species, in, 0)).intoArray(out, 0);
        for (int i = 0; i < 8; i++)
            assertEquals(Float.floatToRawIntBits(Exp.exp(in[i])), Float.floatToRawIntBits(out[i]), "x=" + in[i]);
    }
}
