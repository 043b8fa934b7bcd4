package tern.eval;

import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * A running XᵀX over calibration inputs X [n, d], kept on the backend in f32 and added to by one matrix
 * product per batch (on the GPU this is where GPTQ's calibration spends its arithmetic); {@link #toHost}
 * returns it in double, made exactly symmetric from its upper triangle and scaled.
 */
final class HessianSum implements AutoCloseable {
    private final Backend backend;
    private final int d;
    private final Tensor sum;

    HessianSum(Backend backend, int d) {
        this.backend = backend;
        this.d = d;
        this.sum = backend.zeros(DType.F32, d, d);
    }

    /** sum += xᵀx for x [n, d]. */
    void add(Tensor x) {
        if (x.cols() != d) throw new IllegalArgumentException("inputs of " + x.cols() + " features for a Hessian of " + d);
        backend.matmul(x, true, x, false, sum, true);
    }

    /** scale · sum, [d, d] row-major, the lower triangle mirrored from the upper. */
    double[] toHost(double scale) {
        float[] s = backend.download(sum);
        double[] h = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = i; j < d; j++) {
                double v = scale * s[i * d + j];
                h[i * d + j] = v;
                h[j * d + i] = v;
            }
        return h;
    }

    @Override public void close() { sum.close(); }
}
