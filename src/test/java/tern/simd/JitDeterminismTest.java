package tern.simd;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API reductions give the same bits on their first calls (interpreted) as after C2 has compiled
 * them. Bit-exact resumption of training depends on it: a resumed JVM starts cold while the run it
 * continues was warm. {@code reduceLanes(ADD)} failed this (its last bits changed once compiled), which is
 * why the kernels sum lanes with {@link VectorSums} (and take exponentials with {@link ExpVector}).
 */
class JitDeterminismTest {
    private static final int SETS = 256, PASSES = 400;   // 102,400 calls each: far past C2's compile threshold

    @Test
    void reductionsRepeatBitForBitThroughJitCompilation() {
        FloatKernels k = VectorFloatKernels.INSTANCE;
        int n = 64 + 13;                                   // a tail shorter than a vector is included
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(4L * n * SETS), b = arena.allocate(4L * n * SETS);
            Random rnd = new Random(7);
            for (int i = 0; i < n * SETS; i++) {
                a.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextGaussian() * Math.exp(rnd.nextGaussian())));
                b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
            }
            long[][] first = new long[SETS][];
            for (int pass = 0; pass < PASSES; pass++) {
                for (int s = 0; s < SETS; s++) {
                    long off = 4L * n * s;
                    long[] now = {
                            Float.floatToRawIntBits(k.dot(a, off / 4, b, off / 4, n)),
                            Double.doubleToRawLongBits(k.sumOfSquares(a, off / 4, n)),
                            Double.doubleToRawLongBits(k.sumOfAbs(a, off / 4, n)),
                            Double.doubleToRawLongBits(k.sumExp(b, off / 4, n, 0.5f))};
                    if (pass == 0) {
                        first[s] = now;
                        continue;
                    }
                    for (int r = 0; r < now.length; r++)
                        assertEquals(first[s][r], now[r], "reduction " + r + " of set " + s + " changed at pass " + pass);
                }
            }
        }
    }
}
