package tern.model;

import tern.runtime.Tape;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Autoregressive generation with a KV cache: the prompt is run once (prefill), then each new token is one
 * decode step that attends to the cached keys and values, so no past position is recomputed. The block
 * weights are prepared (quantized, packed) once, when the generator is made: it serves the model's weights
 * as they were then.
 */
public final class Generator implements AutoCloseable {
    private final LlamaModel model;
    private final PreparedWeights weights;
    private final KvCache cache;

    public Generator(LlamaModel model) {
        this.model = model;
        this.weights = PreparedWeights.of(model);
        this.cache = new KvCache(model.backend(), model.config(), model.config().contextLength());
    }

    /**
     * Generates up to {@code maxNew} tokens after {@code prompt}, handing each to {@code onToken} as soon as
     * it is chosen, and returns them. Stops early after {@link SamplingOptions#stopToken()}.
     */
    public int[] generate(int[] prompt, int maxNew, SamplingOptions options, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty: generation needs at least one token");
        if (maxNew < 0) throw new IllegalArgumentException("maxNew must be ≥ 0, got " + maxNew);
        int context = cache.capacity();
        if (prompt.length + maxNew > context)
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens + " + maxNew
                    + " new tokens exceeds the context length " + context);
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

    @Override
    public void close() {
        weights.close();
        cache.close();
    }
}
