package tern.model;

import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.simd.CpuBackend;

/** Small models and helpers shared by the model tests. */
final class ModelTestSupport {
    private ModelTestSupport() {}

    static final Backend BACKEND = new CpuBackend();

    /**
     * For bit-for-bit comparisons. The Vector API path is not reproducible from call to call:
     * VectorOperators.EXP gives different last bits before and after C2 compiles it (measured: the same
     * attention call differs from its first result in 1909 of 2000 repeats), so exact tests use the scalar twin.
     */
    static final Backend SCALAR = CpuBackend.scalar();

    /** Small enough for finite differences: every kernel path still runs (2 layers, 2 heads, odd sizes). */
    static LlamaConfig micro() {
        return new LlamaConfig(23, 16, 24, 2, 2, 8, 1e-5f, 10000f, 1, Precision.FLOAT);
    }

    /** A model initialized with {@code seed}; 2-D weights scaled by {@code gain} so signals are not tiny. */
    static LlamaModel model(LlamaConfig config, long seed, float gain) {
        return model(BACKEND, config, seed, gain);
    }

    static LlamaModel model(Backend backend, LlamaConfig config, long seed, float gain) {
        LlamaModel m = new LlamaModel(backend, config);
        m.initialize(seed);
        if (gain != 1f)
            for (Parameter p : m.parameters())
                if (p.value.rank() == 2) backend.scale(p.value, gain);
        return m;
    }

    /** Copies every parameter value of {@code from} into {@code to} (same config shape). */
    static void copyWeights(LlamaModel from, LlamaModel to) {
        for (Parameter p : from.parameters()) to.backend().copy(p.value, to.parameter(p.name).value);
    }

    static int[] tokens(int n, int vocab, long seed) {
        SeededRandom r = new SeededRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    /** Loss without gradients. */
    static float loss(LlamaModel m, int[] in, int[] tg, int batch, int seq) {
        try (Tape tape = new Tape(m.backend(), false)) {
            return m.loss(tape, in, tg, batch, seq, 1f);
        }
    }

    /** Loss with gradients accumulated into the (zeroed) parameter gradients. */
    static float lossAndGradients(LlamaModel m, int[] in, int[] tg, int batch, int seq) {
        for (Parameter p : m.parameters()) p.zeroGrad(m.backend());
        try (Tape tape = new Tape(m.backend())) {
            float l = m.loss(tape, in, tg, batch, seq, 1f);
            tape.backward();
            return l;
        }
    }

    static float[] logits(LlamaModel m, int[] in, int batch, int seq) {
        try (Tape tape = new Tape(m.backend(), false)) {
            return m.backend().download(m.logits(tape, in, batch, seq).value);
        }
    }
}
