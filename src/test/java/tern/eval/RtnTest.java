package tern.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** Round-to-nearest with per-group min–max grids: checked by hand, and 8 bits ≈ float. */
class RtnTest {
    /**
     * Row [−1, 0.5 | 0.2, 0.8] at 2 bits (codes 0..3), groups of 2.
     * Group 1: range [−1, 0.5] → scale 1.5/3 = 0.5, zero = round(1/0.5) = 2: −1 → code 0 → −1; 0.5 → code 3 → 0.5.
     * Group 2: range [0, 0.8] (0 is always inside) → scale 0.8/3, zero 0: 0.2 → round(0.75) = 1 → 0.2667;
     * 0.8 → code 3 → 0.8.
     */
    @Test
    void groupsByHand() {
        QuantizeResult q = Rtn.quantize(new float[]{-1f, 0.5f, 0.2f, 0.8f}, 1, 4, 2, 2, false);
        assertEquals(2, q.groups());
        assertArrayEquals(new int[]{0, 3, 1, 3}, q.codes());
        assertArrayEquals(new float[]{-1f, 0.5f, (float) (0.8 / 3), 0.8f}, q.dequantized(), 1e-7f);
        assertArrayEquals(new float[]{0.5f, (float) (0.8 / 3)}, q.scales(), 1e-7f);
        assertArrayEquals(new float[]{2f, 0f}, q.zeros(), 0f);
        // one group per row: range [−1, 0.8] → scale 0.6, zero round(1/0.6) = 2; 0.2 → round(1/3)+2 = 2 → 0
        QuantizeResult row = Rtn.quantize(new float[]{-1f, 0.5f, 0.2f, 0.8f}, 1, 4, 2, 0, false);
        assertArrayEquals(new int[]{0, 3, 2, 3}, row.codes());
        assertArrayEquals(new float[]{-1.2f, 0.6f, 0f, 0.6f}, row.dequantized(), 1e-6f);
    }

    @Test
    void symmetricGridCentresOnZero() {
        // 3 bits symmetric: range ±1 → scale 2/7, zero 4; 1 → round(3.5)+4 = 8 → clamped to 7 → 3·2/7
        QuantizeResult q = Rtn.quantize(new float[]{-1f, 0f, 1f}, 1, 3, 3, 0, true);
        assertArrayEquals(new int[]{0, 4, 7}, q.codes());
        assertEquals(0f, q.dequantized()[1]);
        assertEquals(-8.0 / 7, q.dequantized()[0], 1e-6);
    }

    @Test
    void allZeroGroupStaysZero() {
        QuantizeResult q = Rtn.quantize(new float[6], 2, 3, 4, 0, false);
        assertArrayEquals(new float[6], q.dequantized(), 0f);
    }

    @Test
    void badShapeIsNamed() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Rtn.quantize(new float[5], 2, 3, 4, 0, false))
                .getMessage().contains("2×3"));
        assertThrows(IllegalArgumentException.class, () -> Rtn.quantize(new float[4], 2, 2, 1, 0, false));
    }

    /**
     * At 8 bits every weight moves by at most half a step (range/255/2; the stored float value adds its own
     * rounding, half an ulp), and the matrix by ≤ 1.2% relative:
     * the error is about uniform, rms step/√12, with the range ≈ 2·max|w| ≤ ~9σ for ≤ 300 Gaussian weights,
     * so ≈ 9/255/3.46 ≈ 1% of σ at worst.
     */
    @Property(tries = 40)
    void eightBitsIsNearlyFloat(@ForAll @IntRange(min = 1, max = 60) int rows, @ForAll @IntRange(min = 1, max = 300) int cols,
                                @ForAll @IntRange(min = 0, max = 64) int group, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.02);
        QuantizeResult q = Rtn.quantize(w, rows, cols, 8, group, false);
        double num = 0, den = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                double step = q.scales()[r * q.groups() + c / q.group()];
                // half a step on the grid, plus the rounding of the dequantized value to float (half an ulp of it)
                double off = Math.abs((double) w[i] - q.dequantized()[i]);
                assertTrue(off <= step / 2 * (1 + 1e-9) + Math.ulp(q.dequantized()[i]) / 2,
                        "weight " + i + " off by " + off + ", more than half a step (" + step / 2 + ")");
                num += Math.pow(w[i] - q.dequantized()[i], 2);
                den += (double) w[i] * w[i];
            }
        assertTrue(den == 0 || Math.sqrt(num / den) < 1.2e-2, "relative error " + Math.sqrt(num / den));
    }
}
