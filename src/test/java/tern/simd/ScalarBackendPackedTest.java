package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * {@link CpuBackend#scalar()} serves a packed file's tensors on the scalar kernels too: its t9 products
 * (float and int8 activations) and its f16 LM head give exactly the bits of the scalar twins called
 * directly (plain Java float arithmetic is deterministic; the vector twins' lane reductions may differ
 * between the JIT's tiers, so they are not compared to the bit). Exact equality tells the paths apart
 * where the vector kernels sum in another order (the f16 rows; checked below).
 */
class ScalarBackendPackedTest {

    @Test
    void eachBackendRunsPackedProductsOnItsOwnKernels() {
        Random rnd = new Random(11);
        int rows = 130, cols = 301, m = 2;
        byte[] t = PackedMatmulTest.trits(rnd, rows * cols);
        float[] scale = {0.37f};
        float[] x = new float[m * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        {
            CpuBackend backend = CpuBackend.scalar();
            PackedKernels kernels = backend.provider().packed();
            Tensor codes = Tensor.zeros(DType.T9, (int) (PackedTernary.bytes(rows, cols, 1, ShardAxis.ROWS) / 2));
            PackedTernary p = PackedTernary.pack(t, rows, cols, scale, ShardAxis.ROWS, codes.segment());
            TernaryWeights w = backend.loadTernary(codes, rows, cols, scale, ShardAxis.ROWS);
            for (PackedMatmul.Activations a : PackedMatmul.Activations.values()) {
                backend.setPackedActivations(a);
                Tensor y = Tensor.zeros(DType.F32, m, rows);
                backend.ternaryMatmul(Tensor.of(x, m, cols), w, y, false);
                float[] expected = new float[m * rows];
                PackedMatmul.matmul(kernels, p, x, m, expected, a);
                assertArrayEquals(expected, y.toFloatArray(), 0f, kernels.getClass().getSimpleName() + " " + a);
            }

            // The f16 LM head: y = x·Wᵀ, W [rows, cols] in f16.
            Tensor head = Tensor.zeros(DType.F16, rows, cols);
            for (int i = 0; i < rows * cols; i++)
                head.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i, Float.floatToFloat16((float) rnd.nextGaussian()));
            Tensor y = Tensor.zeros(DType.F32, m, rows);
            backend.matmul(Tensor.of(x, m, cols), false, head, true, y, false);
            float[] expected = new float[m * rows];
            PackedFloatMatvec.matmul(backend.provider().vector() && PackedFloatMatvec.VECTOR, head.segment(), PackedFloatMatvec.Format.F16,
                    rows, cols, x, m, expected);
            assertArrayEquals(expected, y.toFloatArray(), 0f, "f16 head on " + backend.provider().describe());
        }
        // The f16 head's vector rows sum in another order than the scalar ones (the packed lookups keep the
        // scalar twin's order, so those agree to the bit), so the head's equality above tells the paths apart.
        if (KernelProvider.preferred().vector() && PackedFloatMatvec.VECTOR) {
            Tensor head = Tensor.zeros(DType.F16, rows, cols);
            for (int i = 0; i < rows * cols; i++)
                head.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i, Float.floatToFloat16((float) rnd.nextGaussian()));
            float[] ys = new float[m * rows], yv = new float[m * rows];
            PackedFloatMatvec.matmul(false, head.segment(), PackedFloatMatvec.Format.F16, rows, cols, x, m, ys);
            PackedFloatMatvec.matmul(true, head.segment(), PackedFloatMatvec.Format.F16, rows, cols, x, m, yv);
            org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(ys, yv), "scalar and vector f16 rows agree to the bit");
        }
    }
}
