package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The width provider in this JVM: every kernel family runs at the width the switches ask for. The pom
 * runs the simd properties at 512 (or the CPU's width), 256 and 128 bits; this test checks that each
 * run really got its width, not a silent fallback. {@link VectorWidthForkTest} checks what a JVM picks
 * on its own.
 */
class VectorWidthTest {

    /** The width this JVM's flags imply: the switch if set, capped by MaxVectorSize if set, else the CPU's. */
    @Test
    void thisJvmRunsAtTheWidthItsFlagsAskFor() {
        assertTrue(Vectorization.ENABLED, Vectorization.describe());
        int cap = 512;
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (arg.startsWith("-XX:MaxVectorSize=")) cap = 8 * Integer.parseInt(arg.substring("-XX:MaxVectorSize=".length()));
        int expected = Math.min(cap, VectorInfo.preferredBits());
        String forced = System.getProperty(Vectorization.BITS_PROPERTY);
        if (forced != null) expected = Math.min(expected, Integer.parseInt(forced));
        assertEquals(expected, Vectorization.BITS, Vectorization.describe());
        assertEquals(Vectorization.BITS / 32, Species.FLOATS);
        KernelProvider p = KernelProvider.preferred();
        assertTrue(p.vector());
        // Lookups at 512 bits and wherever the permutes are native; below that the 2-bit repack (int8) and decoding (float).
        assertEquals(Vectorization.BITS == 512 || Vectorization.NATIVE_PERMUTES ? PackedVector.INSTANCE : PackedTwoBit.INSTANCE, p.packed());
        assertEquals(TernaryVector.INSTANCE, p.ternary());
        // Float matmul: 12 × 2 vectors at 512 bits (32 registers), 4 × 2 below (16 registers on x86).
        assertEquals(Vectorization.BITS == 512 ? 12 : 4, p.matmul().mr(), "float matmul tile height: 12 rows at 512 bits");
        assertEquals(2 * Species.FLOATS, p.matmul().nr(), "float matmul tile width: two vectors");
        assertEquals(512, FloatMatmul.KC, "float matmul K blocking");
        assertTrue(p.describe().startsWith(Vectorization.BITS + "-bit"), p.describe());
        assertTrue(!KernelProvider.scalar().vector() && KernelProvider.scalar().describe().startsWith("scalar"));
    }
}
