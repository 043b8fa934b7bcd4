package tern.model;

import tern.runtime.Backend;
import tern.runtime.Device;
import tern.runtime.Tape;
import tern.simd.CpuBackend;

/**
 * Gets the CPU inference kernels compiled before a served model's first real token. The Vector API runs
 * thousands of times slower until C2 has compiled a kernel, and a kernel is compiled only after thousands of
 * calls or loop iterations: on the real shapes those first calls are the first seconds of a fresh process
 * (measured: a 390M's first token at 24 s under load, the rate after it 3 tokens/s). On a micro model of the
 * same kind (t9 linears on both shard axes, an f16 or f32 head, the same activation type) the same methods
 * reach their compile thresholds in milliseconds of interpreted work each; later calls on the real shapes
 * run compiled code. A backend other than the CPU has nothing to warm.
 */
public final class KernelWarmup {
    /** The micro shape: two layers, 2 tiles of 64 rows per hidden matrix, 4 per FFN matrix, 8 heads of 16. */
    private static final LlamaConfig MICRO = new LlamaConfig(512, 128, 256, 2, 8, 64, 1e-5f, 10000f, 1, Precision.FLOAT);
    /** A compiled micro decode step takes well under this; interpreted Vector API code takes 10–100× more. */
    static final double FAST_STEP_S = 2e-3;
    /** Consecutive fast steps that mean the kernels are compiled, and the most time warm-up may take. */
    static final int FAST_STEPS = 24;
    static final double MAX_S = 6;
    private static final int PROMPT = 8;

    private KernelWarmup() {}

    /**
     * Runs micro decode steps (with a prefill of {@value #PROMPT} rows and a batched step of 3 rows every
     * 16 steps) on a backend like {@code like} (same activation type) until {@value #FAST_STEPS} steps in a
     * row run fast, i.e. C2 has compiled what they call, or {@value #MAX_S} s have passed; returns the seconds
     * spent. Stopping on the measured step time, not after a fixed count, matters on a loaded machine: the
     * compiles take what CPU they get, and work done before they land is slow.
     */
    public static double run(Backend like, boolean f16Head) {
        if (like.device() != Device.CPU) return 0;
        long t0 = System.nanoTime();
        CpuBackend backend = new CpuBackend();
        if (like instanceof CpuBackend cpu) backend.setPackedActivations(cpu.packedActivations());
        try (LlamaModel m = RandomServedWeights.model(backend, MICRO, 7, f16Head); PreparedWeights w = PreparedWeights.of(m);
             KvCache cache = new KvCache(backend, MICRO, MICRO.contextLength());
             KvCache b1 = new KvCache(backend, MICRO, MICRO.contextLength()); KvCache b2 = new KvCache(backend, MICRO, MICRO.contextLength())) {
            int[] prompt = new int[PROMPT];
            int fast = 0, token = 1;
            for (int step = 0; fast < FAST_STEPS && (System.nanoTime() - t0) / 1e9 < MAX_S; step++) {
                try (Tape tape = new Tape(backend, false)) {
                    if (step % 16 == 0) {
                        for (KvCache c : new KvCache[] {cache, b1, b2}) c.reset();
                        for (int i = 0; i < PROMPT; i++) prompt[i] = (step * 31 + i * 7) % MICRO.vocabSize();
                        m.decode(tape, prompt, cache, w);
                        m.decode(tape, new int[] {token}, b1, w);
                        m.decode(tape, new int[] {token}, b2, w);
                        m.decodeBatch(tape, new int[] {token, 2, 3}, new KvCache[] {cache, b1, b2}, w);
                        continue;
                    }
                    long s0 = System.nanoTime();
                    token = Sampler.argmax(backend.download(m.decode(tape, new int[] {token}, cache, w).value));
                    fast = (System.nanoTime() - s0) / 1e9 < FAST_STEP_S ? fast + 1 : 0;
                }
            }
        }
        return (System.nanoTime() - t0) / 1e9;
    }
}
