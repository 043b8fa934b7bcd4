package tern.serve;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import tern.model.BatchGenerator;
import tern.model.LlamaConfig;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.model.Tokenizer;
import tern.runtime.Backend;
import tern.simd.PackedMatmul;

/**
 * The {@link StepDecoder} over the model's {@link BatchGenerator}: one batched forward per step for every
 * open sequence (the packed products run over B rows at once), on the CPU or a GPU backend.
 *
 * <p>{@link BatchGenerator#join} runs the prompt and samples the first token at once, while the scheduler
 * hands a sequence its first token at its first step; so each sequence keeps the tokens chosen and not yet
 * handed over, and a step runs the batched forward only when some sequence has none waiting. A sequence
 * that joined is therefore one token ahead of what its client has seen, which costs nothing extra: the
 * token is computed in a step that runs anyway.
 */
public final class BatchedDecoder implements StepDecoder {
    private final TernModel model;
    private final BatchGenerator generator;
    private final Backend backend;
    private final String device;
    private final int maxBatch;
    private final Map<BatchGenerator.Sequence, Seq> open = new IdentityHashMap<>();
    private volatile int openCount;

    private static final class Seq implements Sequence {
        final BatchGenerator.Sequence inner;
        final ArrayDeque<Integer> waiting = new ArrayDeque<>(2);

        Seq(BatchGenerator.Sequence inner) { this.inner = inner; }
    }

    private BatchedDecoder(TernModel model, Backend backend, String device, int maxBatch) {
        this.model = model;
        this.backend = backend;
        this.device = device;
        this.maxBatch = maxBatch;
        this.generator = model.batch();
    }

    /**
     * Loads a packed model onto {@code backend} (owned from here on: closed with the decoder) with the
     * given activations for the CPU's packed products.
     */
    public static BatchedDecoder load(Path file, Backend backend, String device, int maxBatch, PackedMatmul.Activations activations)
            throws IOException {
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be ≥ 1, got " + maxBatch);
        TernModel m = null;
        try {
            m = TernModel.load(file, backend, activations);
            return new BatchedDecoder(m, backend, device, maxBatch);
        } catch (IOException | RuntimeException e) {
            if (m != null) m.close();
            backend.close();
            throw e;
        }
    }

    @Override public LlamaConfig config() { return model.config(); }

    @Override public Tokenizer tokenizer() { return model.tokenizer(); }

    @Override public String device() { return device; }

    @Override public int maxBatch() { return maxBatch; }

    @Override public int openSequences() { return openCount; }

    @Override
    public Sequence open(int[] prompt, int maxNew, SamplingOptions options) {
        if (open.size() >= maxBatch) throw new IllegalStateException("all " + maxBatch + " sequences are open");
        Seq s = new Seq(generator.join(prompt, maxNew, options));   // runs the prompt now
        s.waiting.add(s.inner.token());
        open.put(s.inner, s);
        openCount = open.size();
        return s;
    }

    @Override
    public Step step(List<Sequence> sequences) {
        int n = sequences.size();
        int[] tokens = new int[n];
        RuntimeException[] failures = new RuntimeException[n];
        boolean forward = false;
        for (Sequence q : sequences) forward |= seq(q).waiting.isEmpty();
        if (forward) {
            try {
                for (BatchGenerator.Sequence s : generator.step()) {
                    Seq mine = open.get(s);
                    if (mine != null) mine.waiting.add(s.token());
                }
            } catch (RuntimeException e) {   // one batched forward: its failure is every sequence's
                java.util.Arrays.fill(failures, e);
                return new Step(tokens, failures);
            }
        }
        for (int i = 0; i < n; i++) {
            Integer t = seq(sequences.get(i)).waiting.poll();
            if (t != null) tokens[i] = t;
            else failures[i] = new IllegalStateException("the sequence has generated all its " + seq(sequences.get(i)).inner.produced() + " tokens");
        }
        return new Step(tokens, failures);
    }

    private Seq seq(Sequence q) {
        if (!(q instanceof Seq s) || open.get(s.inner) != s) throw new IllegalArgumentException("not an open sequence of this decoder");
        return s;
    }

    @Override
    public void close(Sequence sequence) {
        if (!(sequence instanceof Seq s) || open.remove(s.inner) == null) return;
        openCount = open.size();
        generator.leave(s.inner);
    }

    @Override
    public void close() {
        open.clear();
        openCount = 0;
        try {
            generator.close();
            model.close();
        } finally {
            backend.close();
        }
    }
}
