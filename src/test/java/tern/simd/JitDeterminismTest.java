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

    /**
     * The float LM head (f32 and f16 rows) gives the same bits cold as after C2 compiled it: a batched decode
     * compares each row with its own matvec, and one of the two calls may run before the compile, the other after.
     */
    @Test
    void floatMatvecRepeatsBitForBitThroughJitCompilation() {
        int rows = 3, cols = 66;                           // a tail past the vector loop is included
        Random rnd = new Random(11);
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) rnd.nextGaussian();
        for (PackedFloatMatvec.Format f : PackedFloatMatvec.Format.values()) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment w = arena.allocate((long) rows * cols * f.bytes);
                for (int i = 0; i < rows * cols; i++) {
                    float v = (float) rnd.nextGaussian();
                    if (f == PackedFloatMatvec.Format.F16) w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(v));
                    else w.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
                }
                float[] first = new float[rows], now = new float[rows];
                PackedFloatMatvec.matvec(w, f, rows, cols, x, first);
                for (int pass = 0; pass < 60_000; pass++) {
                    PackedFloatMatvec.matvec(w, f, rows, cols, x, now);
                    for (int r = 0; r < rows; r++)
                        assertEquals(Float.floatToRawIntBits(first[r]), Float.floatToRawIntBits(now[r]), f + " row " + r + " changed at pass " + pass);
                }
            }
        }
    }

    /**
     * The float matmul (packing, the register tile and the add into c between K blocks) gives the same bits
     * cold as after C2 compiled it: a resumed training run starts cold. The shape has ragged tiles in rows
     * and columns and crosses a K block (KC is 256 or 512).
     */
    @Test
    void floatMatmulRepeatsBitForBitThroughJitCompilation() {
        int m = 6, k = 520, n = 21;
        Random rnd = new Random(13);
        float[] a = MatmulReference.gaussian(rnd, m * k), b = MatmulReference.gaussian(rnd, k * n);
        try (tern.runtime.Tensor ta = tern.runtime.Tensor.of(a, m, k); tern.runtime.Tensor tb = tern.runtime.Tensor.of(b, n, k);
             tern.runtime.Tensor tc = tern.runtime.Tensor.of(new float[m * n], m, n)) {
            FloatMatmul.matmul(ta, false, tb, true, tc, false);
            float[] first = tc.toFloatArray();
            for (int pass = 0; pass < 6000; pass++) {
                FloatMatmul.matmul(ta, false, tb, true, tc, false);
                float[] now = tc.toFloatArray();
                for (int i = 0; i < now.length; i++)
                    assertEquals(Float.floatToRawIntBits(first[i]), Float.floatToRawIntBits(now[i]), "element " + i + " changed at pass " + pass);
            }
        }
    }
}
