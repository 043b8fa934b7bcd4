package tern.model;

import tern.runtime.Tape;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Continuous batching: sequences {@link #join} and {@link #leave} between steps, and each {@link #step}
 * decodes one token for every joined sequence that is not done in one batched forward
 * ({@link LlamaModel#decodeBatch}: the packed products run over B rows at once instead of B matrix-vector
 * products). Each sequence has its own KV cache (sized to its prompt + budget), position and
 * {@link Sampler}; a sequence's greedy tokens are the same whatever else is in the batch.
 *
 * <p>Not thread-safe: one scheduler thread calls join, step and leave. The block weights are prepared once,
 * when the generator is made.
 */
public final class BatchGenerator implements AutoCloseable {
    private final LlamaModel model;
    private final PreparedWeights weights;
    private final List<Sequence> active = new ArrayList<>();
    private int nextId;

    /** One request being generated. */
    public final class Sequence {
        private final int id;
        private final KvCache cache;
        private final Sampler sampler;
        private final SamplingOptions options;
        private final int[] tokens;
        private int produced;
        private boolean left;

        private Sequence(int id, KvCache cache, SamplingOptions options, int maxNew) {
            this.id = id;
            this.cache = cache;
            this.options = options;
            this.sampler = new Sampler(options);
            this.tokens = new int[maxNew];
        }

        /** Joined order: 0, 1, 2, … per generator. */
        public int id() { return id; }

        /** The newest token (after {@link #join}, the first one). */
        public int token() { return tokens[produced - 1]; }

        /** Every new token so far. */
        public int[] tokens() { return Arrays.copyOf(tokens, produced); }

        public int produced() { return produced; }

        /** True once the budget is spent or the stop token came; a done sequence is not stepped again. */
        public boolean done() { return produced == tokens.length || token() == options.stopToken(); }

        public SamplingOptions options() { return options; }

        private void accept(float[] logits) { tokens[produced++] = sampler.next(logits); }
    }

    public BatchGenerator(LlamaModel model) {
        this.model = model;
        this.weights = PreparedWeights.of(model);
    }

    /**
     * Adds a sequence: checks the request (a non-empty prompt of ids in the vocabulary, maxNew ≥ 1, both
     * within the context), runs its prompt now (prefill, on the calling thread) and chooses its first new
     * token ({@link Sequence#token()}).
     */
    public Sequence join(int[] prompt, int maxNew, SamplingOptions options) {
        Generator.checkRequest(model.config(), prompt, maxNew);
        if (maxNew < 1) throw new IllegalArgumentException("maxNew must be ≥ 1 for a batched sequence, got " + maxNew);
        KvCache cache = new KvCache(model.backend(), model.config(), prompt.length + maxNew);
        try {
            Sequence s = new Sequence(nextId, cache, options, maxNew);
            try (Tape tape = new Tape(model.backend(), false)) {
                s.accept(model.backend().download(model.decode(tape, prompt, cache, weights).value));
            }
            nextId++;
            active.add(s);
            return s;
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
    }

    /**
     * One token for every joined sequence that is not done, in one batched decode step; returns those
     * advanced, in join order (empty when none).
     */
    public List<Sequence> step() {
        List<Sequence> run = new ArrayList<>();
        for (Sequence s : active) if (!s.done()) run.add(s);
        if (run.isEmpty()) return run;
        int b = run.size(), vocab = model.config().vocabSize();
        int[] tokens = new int[b];
        KvCache[] caches = new KvCache[b];
        for (int i = 0; i < b; i++) {
            tokens[i] = run.get(i).token();
            caches[i] = run.get(i).cache;
        }
        float[] logits;
        try (Tape tape = new Tape(model.backend(), false)) {
            logits = model.backend().download(model.decodeBatch(tape, tokens, caches, weights).value);
        }
        for (int i = 0; i < b; i++) run.get(i).accept(Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab));
        return run;
    }

    /** Removes a sequence (done, or its client went away) and frees its cache; leaving twice is a no-op. */
    public void leave(Sequence s) {
        if (s.left) return;
        if (!active.remove(s)) throw new IllegalArgumentException("sequence " + s.id + " did not join this generator");
        s.left = true;
        s.cache.close();
    }

    /** Sequences joined and not left, in join order. */
    public List<Sequence> active() { return Collections.unmodifiableList(new ArrayList<>(active)); }

    @Override
    public void close() {
        for (Sequence s : new ArrayList<>(active)) leave(s);
        weights.close();
    }
}
