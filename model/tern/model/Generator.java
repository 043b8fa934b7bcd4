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
    private WholeStepDecoder graphStep;                 // CUDA: one-token steps as a CUDA graph (null: op by op)
    private boolean graphTried;
    private tern.runtime.Tensor[][] cacheKeys, cacheValues;   // [1][layer] views of the cache, for graphStep

    public Generator(LlamaModel model) {
        this.model = model;
        this.weights = PreparedWeights.of(model);
    }

    /**
     * Generates up to {@code maxNew} tokens after {@code prompt}, handing each to {@code onToken} as soon as
     * it is chosen, and returns them. Stops early after {@link SamplingOptions#stopToken()}.
     */
    public int[] generate(int[] prompt, int maxNew, SamplingOptions options, IntConsumer onToken) {
        return generate(prompt, maxNew, options, onToken, false);
    }

    /**
     * As {@link #generate(int[], int, SamplingOptions, IntConsumer)}; with {@code oneByOne} the prompt runs
     * as one-token steps instead of one batched prefill. Only for a model whose one-token path gives the
     * batched logits bit for bit (the caller knows: packed int8 products, {@link InferenceModel#generate}):
     * then it changes nothing but which kernels run.
     */
    public int[] generate(int[] prompt, int maxNew, SamplingOptions options, IntConsumer onToken, boolean oneByOne) {
        checkRequest(model.config(), prompt, maxNew);
        int need = Math.max(1, prompt.length + maxNew);
        if (cache == null || cache.capacity() < need) {
            if (cache != null) cache.close();
            cache = null;
            cache = new KvCache(model.backend(), model.config(), need);
        }
        cache.reset();
        boolean graph = graphStep() != null;
        if (graph) {
            cacheKeys = new tern.runtime.Tensor[1][model.config().layers()];
            cacheValues = new tern.runtime.Tensor[1][model.config().layers()];
            for (int l = 0; l < cacheKeys[0].length; l++) {
                cacheKeys[0][l] = cache.keys(l, 0, cache.capacity());
                cacheValues[0][l] = cache.values(l, 0, cache.capacity());
            }
        }
        Sampler sampler = new Sampler(options);
        int[] out = new int[maxNew];
        int produced = 0;
        int[] input = prompt;
        while (produced < maxNew) {
            float[] logits;
            if (graph && input.length == 1) {
                logits = graphStep.step(input, new int[]{cache.length()}, cacheKeys, cacheValues);
                cache.advance(1);
            } else if (oneByOne && produced == 0) {
                // Only the last prompt token's logits are read: the others skip the LM head (on a fresh
                // process each head product ran in not-yet-compiled code, the f16 head 16 MiB a call).
                for (int i = 0; i + 1 < input.length; i++)
                    try (Tape tape = new Tape(model.backend(), false)) {
                        model.prefill(tape, new int[] {input[i]}, cache, weights);
                    }
                try (Tape tape = new Tape(model.backend(), false)) {
                    logits = model.backend().download(model.decode(tape, new int[] {input[input.length - 1]}, cache, weights).value);
                }
            } else {
                try (Tape tape = new Tape(model.backend(), false)) {
                    logits = model.backend().download(model.decode(tape, input, cache, weights).value);
                }
            }
            int token = sampler.next(logits);
            out[produced++] = token;
            if (onToken != null) onToken.accept(token);
            if (token == options.stopToken()) break;
            input = new int[]{token};
        }
        return produced == maxNew ? out : Arrays.copyOf(out, produced);
    }

    /**
     * The CUDA graph decode step for one-token steps of a packed model on a CUDA backend (tern.cuda's
     * CudaGraphDecodeStep, loaded by name), made at the first generation; null elsewhere, or with
     * -Dtern.cuda.graph=false; -Dtern.cuda.graph=eager runs the same step without capturing it. The prompt
     * itself runs op by op (one batched prefill).
     */
    private WholeStepDecoder graphStep() {
        if (graphTried) return graphStep;
        graphTried = true;
        String setting = System.getProperty("tern.cuda.graph", "true");
        if (model.backend().device() != tern.runtime.Device.CUDA || setting.equals("false")) return null;
        graphStep = WholeStepDecoder.load("tern.cuda.CudaGraphDecodeStep", model, weights.packed(), !setting.equals("eager"));
        return graphStep;
    }

    /** How one-token steps run on this generator's backend (for logs and benchmarks). */
    public String stepMode() {
        return graphStep != null ? graphStep.describe() : "op by op (" + model.backend().name() + ")";
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
        if (graphStep != null) graphStep.close();
        weights.close();
        if (cache != null) cache.close();
    }
}
