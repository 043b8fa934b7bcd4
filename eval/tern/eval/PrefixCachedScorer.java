package tern.eval;

import tern.model.KvCache;
import tern.model.LlamaModel;
import tern.model.PreparedWeights;
import tern.runtime.Tape;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Scores requests like {@link ModelScorer}, but runs each distinct context once: the choices of a
 * multiple-choice item share their context, so the context is decoded into a KV cache, its last position's
 * logits give the first continuation token's distribution, and each continuation then decodes only its own
 * tokens (all but the last) from the cached state, after the cache is truncated back to the context.
 * An item with 4 choices thus runs its context once instead of 4 times.
 *
 * <p>The numbers are ModelScorer's up to f32 summation order (the attention over cached and new positions
 * splits the same sums differently; log-softmax and the greedy rule are the same code, {@link LogSoftmax}).
 * Requests that do not fit the window whole (context + continuation − 1 > window) need ModelScorer's left
 * truncation, which changes the context per request: they are handed to the fallback scorer unchanged.
 */
public final class PrefixCachedScorer implements LogLikelihood {
    /** Cached decoding of one sequence at a time: what this scorer needs from a model. */
    interface Decoder extends AutoCloseable {
        /** Forgets positions from {@code length} on (0 = a new sequence). */
        void truncate(int length);

        /**
         * Runs {@code tokens} after the cached positions; logits row-major [n, vocab] of every one of them, or
         * [1, vocab] of the last only (a context needs only its last row: the LM head over the others is waste).
         */
        float[] decode(int[] tokens, boolean allPositions);

        @Override void close();
    }

    /** Opens a {@link Decoder} for one {@link #score} call (weights prepared once, one cache). */
    interface DecoderFactory {
        Decoder open();
    }

    private final DecoderFactory decoders;
    private final int window, vocab;
    private final LogLikelihood fallback;

    PrefixCachedScorer(DecoderFactory decoders, int window, int vocab, LogLikelihood fallback) {
        this.decoders = decoders;
        this.window = window;
        this.vocab = vocab;
        this.fallback = fallback;
    }

    /** For a LlamaModel; requests needing truncation go to a {@link ModelScorer} with {@code tokensPerBatch}. */
    public PrefixCachedScorer(LlamaModel model, int tokensPerBatch) {
        this(() -> new LlamaDecoder(model), model.config().contextLength(), model.config().vocabSize(),
                new ModelScorer(new LlamaLm(model), tokensPerBatch));
    }

    @Override
    public List<Score> score(List<Request> requests) {
        Score[] out = new Score[requests.size()];
        List<Integer> truncated = new ArrayList<>();
        Map<ContextKey, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < requests.size(); i++) {
            Request r = requests.get(i);
            if (r.context().length + r.continuation().length - 1 > window) truncated.add(i);
            else groups.computeIfAbsent(new ContextKey(r.context()), k -> new ArrayList<>()).add(i);
        }
        if (!groups.isEmpty())
            try (Decoder decoder = decoders.open()) {
                for (Map.Entry<ContextKey, List<Integer>> g : groups.entrySet())
                    scoreGroup(decoder, g.getKey().ids(), g.getValue(), requests, out);
            }
        if (!truncated.isEmpty()) {
            List<Score> scored = fallback.score(truncated.stream().map(requests::get).toList());
            for (int j = 0; j < truncated.size(); j++) out[truncated.get(j)] = scored.get(j);
        }
        return List.of(out);
    }

    private void scoreGroup(Decoder decoder, int[] context, List<Integer> members, List<Request> requests, Score[] out) {
        decoder.truncate(0);
        float[] contextLogits = decoder.decode(context, false);   // the first continuation token's distribution
        for (int index : members) {
            Request r = requests.get(index);
            int[] cont = r.continuation();
            for (int t : cont)
                if (t < 0 || t >= vocab)
                    throw new IllegalArgumentException(r.where() + ": token id " + t + " outside the vocabulary of " + vocab);
            double sum = LogSoftmax.logProb(contextLogits, 0, vocab, cont[0]);
            boolean greedy = LogSoftmax.argmax(contextLogits, 0, vocab) == cont[0];
            if (cont.length > 1) {
                decoder.truncate(context.length);
                float[] rest = decoder.decode(Arrays.copyOf(cont, cont.length - 1), true);
                for (int j = 1; j < cont.length; j++) {
                    int row = (j - 1) * vocab;
                    sum += LogSoftmax.logProb(rest, row, vocab, cont[j]);
                    greedy &= LogSoftmax.argmax(rest, row, vocab) == cont[j];
                }
            }
            out[index] = new Score(sum, greedy);
        }
    }

    /** A context's ids as a map key (arrays compare by identity). */
    private record ContextKey(int[] ids) {
        @Override public boolean equals(Object o) { return o instanceof ContextKey k && Arrays.equals(ids, k.ids); }

        @Override public int hashCode() { return Arrays.hashCode(ids); }
    }

    /** LlamaModel's cached decoding, block weights prepared once for the decoder's lifetime. */
    static final class LlamaDecoder implements Decoder {
        private final LlamaModel model;
        private final PreparedWeights weights;
        private final KvCache cache;

        LlamaDecoder(LlamaModel model) {
            this.model = model;
            this.weights = PreparedWeights.of(model);
            this.cache = new KvCache(model.backend(), model.config(), model.config().contextLength());
        }

        @Override public void truncate(int length) { cache.truncate(length); }

        @Override public float[] decode(int[] tokens, boolean allPositions) {
            try (Tape tape = new Tape(model.backend(), false)) {
                var logits = allPositions ? model.decodeAll(tape, tokens, cache, weights) : model.decode(tape, tokens, cache, weights);
                return model.backend().download(logits.value);
            }
        }

        @Override public void close() {
            weights.close();
            cache.close();
        }
    }
}
