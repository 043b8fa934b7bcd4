package tern.cuda;

import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.LinearPolicy;
import tern.model.Precision;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * Synthetic served weights made on the GPU itself (dec_random_fill: a hash per element, no host RNG and
 * no upload), so a benchmark of the 3.9B shape sets up in seconds: uniform trits packed by the device with
 * γ = mean|w| (as RandomServedWeights, scaled so activations keep their size), uniform embedding and head
 * of the same standard deviations as RandomServedWeights', unit norm gains.
 */
final class DeviceRandomWeights implements LlamaModel.WeightSource {
    private final CudaBackend cuda;
    private int seed;

    DeviceRandomWeights(CudaBackend cuda, int seed) {
        this.cuda = cuda;
        this.seed = seed;
    }

    static LlamaModel model(CudaBackend cuda, LlamaConfig config, int seed) {
        return LlamaModel.served(cuda, config.withPrecision(Precision.of(new LinearPolicy.Ternary(1))), new DeviceRandomWeights(cuda, seed), null);
    }

    private Tensor random(boolean trits, float scale, int... shape) {
        Tensor t = cuda.zeros(DType.F32, shape);
        long n = t.size();
        cuda.kernels().launch("decode_step", "dec_random_fill", cuda.kernels().gridFor(n, 256), 1, 1, 256, 0,
                KernelArgs.of().ptr(CudaBackend.addressOf(t)).i64(n).i32(seed++).i32(trits).f32(scale));
        return t;
    }

    @Override
    public Tensor floats(String hfName, int... shape) {
        if (shape.length == 1) {
            Tensor t = cuda.zeros(DType.F32, shape);
            cuda.fill(t, 1f);
            return t;
        }
        double std = hfName.startsWith("lm_head") ? 1 / Math.sqrt(shape[1]) : 1;
        return random(false, (float) (std * Math.sqrt(3)), shape);        // uniform [-a, a): std a/√3
    }

    @Override
    public TernaryWeights ternary(String hfName, int rows, int cols, ShardAxis axis) {
        try (Tensor dense = random(true, (float) (1 / Math.sqrt(cols)), rows, cols)) {
            return cuda.packTernary(dense, 1, axis, tern.model.Linear.TERNARY_EPS);
        }
    }
}
