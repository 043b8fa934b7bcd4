package tern.model;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Tern for embedding: a packed ternary model ({@code tern pack}) loaded from one file, text in, text out,
 * streamed as it is generated. Needs nothing but the Tern jar (add {@code --add-modules
 * jdk.incubator.vector} for the fast kernels; without it a scalar path runs).
 *
 * <pre>{@code
 * try (TernModel m = TernModel.load(Path.of("model.tern"))) {
 *     TernModel.Result r = m.generate("Once upon a time", SamplingOptions.greedy(), 50, System.out::print);
 *     System.out.printf("%n%.1f tokens/s%n", r.tokensPerSecond());
 * }
 * }</pre>
 * One generation at a time per instance (it owns one KV cache).
 */
public final class TernModel implements AutoCloseable {
    private final InferenceModel model;
    private final Tokenizer tokenizer;

    /**
     * What one call produced: the new text, token counts, the time spent after the prompt was encoded and,
     * of it, the time to the first new token (the prompt's prefill and the first choice).
     */
    public record Result(String text, int promptTokens, int newTokens, double seconds, double firstTokenSeconds) {
        public double tokensPerSecond() { return seconds > 0 ? newTokens / seconds : Double.NaN; }

        /** Tokens per second after the first one: the decode rate, prefill aside. */
        public double decodeTokensPerSecond() {
            return newTokens > 1 && seconds > firstTokenSeconds ? (newTokens - 1) / (seconds - firstTokenSeconds) : Double.NaN;
        }
    }

    private TernModel(InferenceModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** Maps and validates a packed model file; it must hold its tokenizer (tern pack stores it). */
    public static TernModel load(Path file) throws IOException {
        return load(file, new tern.simd.CpuBackend());
    }

    /** As {@link #load(Path)}, served on {@code backend} (e.g. a tern.cuda.CudaBackend). */
    public static TernModel load(Path file, tern.runtime.Backend backend) throws IOException {
        return load(file, backend, backend instanceof tern.simd.CpuBackend cpu ? cpu.packedActivations() : tern.simd.PackedMatmul.Activations.FLOAT);
    }

    /**
     * As {@link #load(Path, tern.runtime.Backend)} with the packed products' activation type set first
     * ({@link InferenceModel#load(Path, tern.runtime.Backend, tern.simd.PackedMatmul.Activations)}: what the
     * kernels of that type need is prepared at load). An activation type the backend lacks is an
     * IllegalArgumentException.
     */
    public static TernModel load(Path file, tern.runtime.Backend backend, tern.simd.PackedMatmul.Activations activations) throws IOException {
        InferenceModel m = InferenceModel.load(file, backend, activations);
        // -Dtern.warmup=true compiles the kernels on a micro model while the tokenizer loads (KernelWarmup).
        // Off by default: measured on the 390M (BENCHMARKS.md), it moved the C2 compiles earlier but did not
        // shorten the process, which is bound by the compiles' CPU time either way.
        Thread warmup = null;
        if (Boolean.getBoolean("tern.warmup")) {
            warmup = Thread.ofPlatform().name("tern-warmup").daemon().start(() -> KernelWarmup.run(m.backend(), m.halfFloats()));
        }
        try {
            if (m.tokenizerJson() == null)
                throw new IOException(file + ": holds no tokenizer.json (pack a checkpoint that has one)");
            // TokenizerFiles reads files: hand it the stored JSON through a temporary copy.
            Path tmp = Files.createTempFile("tern-tokenizer", ".json");
            try {
                Files.writeString(tmp, m.tokenizerJson(), StandardCharsets.UTF_8);
                Tokenizer t = TokenizerFiles.load(tmp);
                if (t.vocabSize() > m.config().vocabSize())
                    throw new IOException(file + ": the tokenizer has " + t.vocabSize() + " tokens, more than the model's " + m.config().vocabSize());
                if (warmup != null) warmup.join();
                return new TernModel(m, t);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            m.close();
            throw new IOException("interrupted while warming up the kernels", e);
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public LlamaConfig config() { return model.config(); }

    public Tokenizer tokenizer() { return tokenizer; }

    /** The model underneath (token-level generation, activation type). */
    public InferenceModel model() { return model; }

    /** {@link #generate(String, SamplingOptions, int, Consumer)} with as many tokens as the context allows. */
    public Result generate(String prompt, SamplingOptions options, Consumer<String> onText) {
        return generate(prompt, options, Integer.MAX_VALUE, onText);
    }

    /**
     * Continues {@code prompt} by up to {@code maxTokens} tokens (fewer at the end of the context or at
     * {@code <|endoftext|>}), handing each piece of text to {@code onText} as soon as its bytes form whole
     * characters.
     */
    public Result generate(String prompt, SamplingOptions options, int maxTokens, Consumer<String> onText) {
        GenerationRequest request = GenerationRequest.of(tokenizer, prompt, model.config().contextLength(), maxTokens, options);
        Utf8Stream text = new Utf8Stream(onText);
        long start = System.nanoTime();
        long[] first = {0};
        int[] produced = model.generate(request.ids(), request.budget(), request.options(), token -> {
            if (first[0] == 0) first[0] = System.nanoTime();
            if (request.isText(token)) text.accept(tokenizer.decodeBytes(new int[] {token}, 0, 1));
        });
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(text.text(), request.ids().length, produced.length, seconds, first[0] == 0 ? Double.NaN : (first[0] - start) / 1e9);
    }

    /**
     * A continuous-batching generator over this model's weights (token level; see {@link BatchGenerator}).
     * The caller closes it, before closing this model.
     */
    public BatchGenerator batch() { return model.batch(); }

    /**
     * Continues every prompt at once, one batched decode step per token for all of them (each with its own
     * KV cache), up to {@code maxTokens} tokens each (fewer at the end of the context or at
     * {@code <|endoftext|>}). Greedy results equal those of {@link #generate} one prompt at a time.
     */
    public java.util.List<Result> generateAll(java.util.List<String> prompts, SamplingOptions options, int maxTokens) {
        java.util.List<GenerationRequest> requests = new java.util.ArrayList<>();
        for (String p : prompts) requests.add(GenerationRequest.of(tokenizer, p, model.config().contextLength(), maxTokens, options));
        long start = System.nanoTime();
        double firstToken = Double.NaN;
        java.util.List<BatchGenerator.Sequence> seqs = new java.util.ArrayList<>();
        java.util.List<Result> results = new java.util.ArrayList<>();
        try (BatchGenerator g = batch()) {
            for (GenerationRequest r : requests)
                seqs.add(r.budget() == 0 ? null : g.join(r.ids(), r.budget(), r.options()));
            firstToken = (System.nanoTime() - start) / 1e9;     // every prompt's prefill and first token
            while (!g.step().isEmpty()) { /* every sequence advances until done */ }
            double seconds = (System.nanoTime() - start) / 1e9;
            for (int i = 0; i < requests.size(); i++) {
                GenerationRequest r = requests.get(i);
                int[] t = seqs.get(i) == null ? new int[0] : seqs.get(i).tokens();
                Utf8Stream text = new Utf8Stream(x -> { });
                for (int token : t) if (r.isText(token)) text.accept(tokenizer.decodeBytes(new int[] {token}, 0, 1));
                results.add(new Result(text.text(), r.ids().length, t.length, seconds, firstToken));
            }
        }
        return results;
    }

    @Override public void close() { model.close(); }
}
