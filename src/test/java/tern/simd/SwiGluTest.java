package tern.simd;

import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

class SwiGluTest {

    @Property(tries = 50)
    void forwardAndBackwardMatchTheReference(@ForAll @IntRange(min = 1, max = 200) int rows,
                                             @ForAll @IntRange(min = 1, max = 300) int cols, @ForAll long seed) {
        Random rnd = new Random(seed);
        int n = rows * cols;
        // ±12 reaches deep into both tails of the sigmoid.
        float[] gate = uniform(rnd, n, 12), up = uniform(rnd, n, 3), dout = uniform(rnd, n, 1);
        double[] expected = Reference.swiglu(Reference.toDouble(gate), Reference.toDouble(up));
        Reference.SwiGluGrads grads = Reference.swigluBackward(Reference.toDouble(dout), Reference.toDouble(gate), Reference.toDouble(up));
        for (CpuBackend be : backends())
            try (Tensor tg = Tensor.of(gate, rows, cols); Tensor tu = Tensor.of(up, rows, cols);
                 Tensor out = Tensor.zeros(DType.F32, rows, cols); Tensor td = Tensor.of(dout, rows, cols);
                 Tensor dg = Tensor.zeros(DType.F32, rows, cols); Tensor du = Tensor.zeros(DType.F32, rows, cols)) {
                String p = pathOf(be);
                be.swiglu(tg, tu, out);
                // exp within 1 ulp, then a handful of f32 operations: 1e-6 relative.
                assertClose(p + " swiglu", out.toFloatArray(), expected, 1e-6, 1e-7);
                be.swigluBackward(td, tg, tu, dg, du);
                // silu' = σ(1 + g(1−σ)) has a cancellation (1−σ) in f32 for large g: 2e-6 relative, 1e-6 of scale.
                assertClose(p + " dgate", dg.toFloatArray(), grads.dgate(), 2e-6, 1e-6);
                assertClose(p + " dup", du.toFloatArray(), grads.dup(), 1e-6, 1e-7);
            }
    }
}
