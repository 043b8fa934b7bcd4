package tern.model;

import tern.runtime.Tape;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Autoregressive generation with a KV cache: the prompt is run once (prefill), then each new token is one
 * decode step that attends to the cached keys and values, so no past position is recomputed. The block
 * weights are prepared (quantized, packed) once, when the generator is made: it serves the model's weights
 * as they were then. The cache holds what a request needs (prompt + new tokens), not the whole context
 * (400 MB for a Spectra 390M at 2,048 positions), and grows when a later request needs more.
 */
public final class Generator implements AutoCloseable {
    private final LlamaModel model;
    private final PreparedWeights weights;
    private KvCache cache;

    public Generator(LlamaModel model) {
        this.model = model;
        this.weights = PreparedWeights.of(model);
    }

    /**
     * Generates up to {@code maxNew} tokens after {@code prompt}, handing each to {@code onToken} as soon as
     * it is chosen, and returns them. Stops early after {@link SamplingOptions#stopToken()}.
     */
    public int[] generate(int[] prompt, int maxNew, SamplingOptions options, IntConsumer onToken) {
        checkRequest(model.config(), prompt, maxNew);
        int need = Math.max(1, prompt.length + maxNew);
        if (cache == null || cache.capacity() < need) {
            if (cache != null) cache.close();
            cache = null;
            cache = new KvCache(model.backend(), model.config(), need);
        }
        cache.reset();
        Sampler sampler = new Sampler(options);
        int[] out = new int[maxNew];
        int produced = 0;
        int[] input = prompt;
        while (produced < maxNew) {
            float[] logits;
            try (Tape tape = new Tape(model.backend(), false)) {
                logits = model.backend().download(model.decode(tape, input, cache, weights).value);
            }
            int token = sampler.next(logits);
            out[produced++] = token;
            if (onToken != null) onToken.accept(token);
            if (token == options.stopToken()) break;
            input = new int[]{token};
        }
        return produced == maxNew ? out : Arrays.copyOf(out, produced);
    }

    /** The checks every generation request gets: a prompt, a budget ≥ 0, and both within the context. */
    static void checkRequest(LlamaConfig config, int[] prompt, int maxNew) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty: generation needs at least one token");
        if (maxNew < 0) throw new IllegalArgumentException("maxNew must be ≥ 0, got " + maxNew);
        if ((long) prompt.length + maxNew > config.contextLength())
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens + " + maxNew
                    + " new tokens exceeds the context length " + config.contextLength());
        for (int i = 0; i < prompt.length; i++)
            if (prompt[i] < 0 || prompt[i] >= config.vocabSize())
                throw new IllegalArgumentException("token id " + prompt[i] + " at position " + i + " of the prompt is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
    }

    @Override
    public void close() {
        weights.close();
        if (cache != null) cache.close();
    }
}
