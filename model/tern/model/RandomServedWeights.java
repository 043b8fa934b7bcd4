package tern.model;

import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;
import tern.simd.PackedTernary;

import java.util.SplittableRandom;

/**
 * Synthetic weights for a served model of any shape, made without a float model or a file: uniform random
 * trits with γ = 1/√in per matrix (so activations keep their scale through the blocks), N(0, 1) embedding,
 * N(0, 1/hidden) LM head, unit norm gains. What benchmarks of big shapes (a 3.9B on a GPU) and the kernel
 * warm-up at load serve. On the CPU the trits are packed in the t9 layout ({@link Backend#loadTernary});
 * elsewhere they are uploaded and packed by the device ({@link Backend#packTernary}: T/1 → T exactly).
 */
public final class RandomServedWeights implements LlamaModel.WeightSource {
    private final Backend backend;
    private final SplittableRandom random;
    private final boolean f16;

    /** {@code f16}: on the CPU, keep the embedding and LM head as f16 (as tern pack writes them by default). */
    public RandomServedWeights(Backend backend, long seed, boolean f16) {
        this.backend = backend;
        this.random = new SplittableRandom(seed);
        this.f16 = f16;
    }

    /** A served model of {@code config}'s shape (ternary, one shard) over random weights. */
    public static LlamaModel model(Backend backend, LlamaConfig config, long seed, boolean f16) {
        return LlamaModel.served(backend, config.withPrecision(Precision.of(new LinearPolicy.Ternary(1))),
                new RandomServedWeights(backend, seed, f16), null);
    }

    @Override
    public Tensor floats(String hfName, int... shape) {
        if (shape.length == 1) {
            float[] ones = new float[shape[0]];
            java.util.Arrays.fill(ones, 1f);
            return backend.upload(ones, shape);
        }
        int rows = shape[0], cols = shape[1];
        double std = hfName.startsWith("lm_head") ? 1 / Math.sqrt(cols) : 1;
        if (f16 && backend.device() == Device.CPU) {
            Tensor t = Tensor.zeros(DType.F16, rows, cols);
            for (long i = 0; i < (long) rows * cols; i++)
                t.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) (std * random.nextGaussian())));
            return t;
        }
        float[] v = new float[Math.multiplyExact(rows, cols)];
        for (int i = 0; i < v.length; i++) v[i] = (float) (std * random.nextGaussian());
        return backend.upload(v, rows, cols);
    }

    @Override
    public TernaryWeights ternary(String hfName, int rows, int cols, ShardAxis axis) {
        byte[] trits = new byte[Math.multiplyExact(rows, cols)];
        for (int i = 0; i < trits.length; i++) trits[i] = (byte) (random.nextInt(3) - 1);
        float[] scale = {(float) (1 / Math.sqrt(cols))};
        if (backend.device() == Device.CPU) {
            Tensor codes = Tensor.zeros(DType.T9, (int) (PackedTernary.bytes(rows, cols, 1, axis) / 2));
            PackedTernary.pack(trits, rows, cols, scale, axis, codes.segment());
            return backend.loadTernary(codes, rows, cols, scale, axis);
        }
        float[] t = new float[trits.length];
        for (int i = 0; i < t.length; i++) t[i] = trits[i] * scale[0];
        try (Tensor dense = backend.upload(t, rows, cols)) {
            return backend.packTernary(dense, 1, axis, Linear.TERNARY_EPS);
        }
    }
}
