package tern.simd;

import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** f32 matrix product for the CPU backend: c ← op(a)·op(b) (+ c if accumulate). */
public final class FloatMatmul {
    private FloatMatmul() {}

    /** Backend.matmul contract: c ← op(a)·op(b) (+c if accumulate). */
    public static void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, boolean accumulate) {
        MatmulShape s = MatmulShape.of(a, transA, b, transB, c);
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        for (int i = 0; i < s.m(); i++)
            for (int j = 0; j < s.n(); j++) {
                float acc = 0;
                for (int p = 0; p < s.k(); p++) {
                    float av = as.getAtIndex(ValueLayout.JAVA_FLOAT, transA ? (long) p * s.m() + i : (long) i * s.k() + p);
                    float bv = bs.getAtIndex(ValueLayout.JAVA_FLOAT, transB ? (long) j * s.k() + p : (long) p * s.n() + j);
                    acc = Math.fma(av, bv, acc);
                }
                long ci = (long) i * s.n() + j;
                cs.setAtIndex(ValueLayout.JAVA_FLOAT, ci, accumulate ? cs.getAtIndex(ValueLayout.JAVA_FLOAT, ci) + acc : acc);
            }
    }
}
