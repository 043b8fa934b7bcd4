package tern.eval;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.simd.CpuBackend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PrefixCachedScorer} against {@link ModelScorer} on a real (tiny, random) LlamaModel: the same scores
 * on request lists with shared and unshared contexts and with requests that need left truncation; and the
 * context of a multiple-choice item is decoded once, not once per choice.
 */
class PrefixCachedScorerTest {
    static final Backend CPU = new CpuBackend();
    static final int WINDOW = 32;   // short, so random requests often exceed it and take the truncating fallback

    @AfterAll static void close() { CPU.close(); }

    static LlamaModel model(Precision precision, long seed) {
        LlamaConfig t = LlamaConfig.preset("tiny");
        LlamaModel m = new LlamaModel(CPU, new LlamaConfig(t.vocabSize(), t.hidden(), t.intermediate(), t.layers(),
                t.heads(), WINDOW, t.rmsEps(), t.ropeTheta(), 1, precision));
        m.initialize(seed);
        for (Parameter p : m.parameters()) if (p.value.rank() == 2) CPU.scale(p.value, 4f);   // logits far from flat
        return m;
    }

    static int[] ids(Random r, int n, int vocab) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = r.nextInt(vocab);
        return out;
    }

    /**
     * Log-likelihoods within 1e-4 absolute: both sides run the same f32 kernels, but the cached attention sums
     * cached and new positions in a different order and the matmuls see different row counts, so the logits
     * differ in their last bits; summed over up to 40 tokens' log-softmax that stays far below 1e-4.
     * Greedy flags are identical unless some continuation token's logit is within 1e-4 of the row's maximum
     * (a near-tie that those last bits can flip); 30 tries because each builds and runs a 4-layer model.
     */
    @Property(tries = 30)
    void scoresEqualModelScorers(@ForAll @IntRange(min = 0, max = 1) int ternary, @ForAll long seed,
                                 @ForAll @IntRange(min = 1, max = 6) int contexts) {
        Precision precision = ternary == 1 ? Precision.of(new LinearPolicy.Ternary(1)) : Precision.FLOAT;
        Random r = new Random(seed);
        try (LlamaModel m = model(precision, seed)) {
            int vocab = m.config().vocabSize();
            List<Request> requests = new ArrayList<>();
            for (int c = 0; c < contexts; c++) {
                int[] ctx = ids(r, 1 + r.nextInt(30), vocab);
                int choices = 1 + r.nextInt(4);
                for (int k = 0; k < choices; k++)   // lengths up to 40 > WINDOW: pieces and truncation too
                    requests.add(new Request("t:" + c + "." + k, ctx, ids(r, 1 + r.nextInt(r.nextInt(4) == 0 ? 40 : 8), vocab)));
            }
            Collections.shuffle(requests, r);   // a context's requests need not be adjacent
            List<Score> want = new ModelScorer(new LlamaLm(m), 200).score(requests);
            List<Score> got = new PrefixCachedScorer(m, 200).score(requests);
            assertEquals(requests.size(), got.size());
            for (int i = 0; i < requests.size(); i++) {
                Request q = requests.get(i);
                String what = precision.weights().label() + " " + q.where() + " (context " + q.context().length
                        + ", continuation " + q.continuation().length + ")";
                assertEquals(want.get(i).logLikelihood(), got.get(i).logLikelihood(), 1e-4, what);
                if (want.get(i).greedy() != got.get(i).greedy())
                    assertTrue(hasNearTie(m, q), what + ": greedy flags differ without a near-tie");
            }
        }
    }

    /** Whether some continuation token's logit is within 1e-4 of its row's maximum in the full forward. */
    static boolean hasNearTie(LlamaModel m, Request q) {
        if (q.continuation().length > WINDOW) return false;
        int[] input = ModelScorer.modelInput(q, WINDOW);
        int vocab = m.config().vocabSize(), k = q.continuation().length;
        float[] logits;
        try (Tape tape = new Tape(CPU, false)) {
            logits = CPU.download(m.logits(tape, input, 1, input.length).value);
        }
        for (int j = 0; j < k; j++) {
            int row = (input.length - k + j) * vocab;
            float max = Float.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) max = Math.max(max, logits[row + v]);
            if (max - logits[row + q.continuation()[j]] < 1e-4) return true;
        }
        return false;
    }

    /** Counts what reaches the model: tokens decoded, and decodes that start a new sequence (contexts). */
    static final class CountingDecoder implements PrefixCachedScorer.Decoder {
        final PrefixCachedScorer.Decoder inner;
        int tokens, contexts;
        CountingDecoder(PrefixCachedScorer.Decoder inner) { this.inner = inner; }
        private boolean fresh;
        @Override public void truncate(int length) { fresh = length == 0; inner.truncate(length); }
        @Override public float[] decode(int[] t, boolean all) {
            tokens += t.length;
            if (fresh) contexts++;
            fresh = false;
            return inner.decode(t, all);
        }
        @Override public void close() { inner.close(); }
    }

    @Test
    void eachItemsContextIsDecodedOnceForItsFourChoices() {
        try (LlamaModel m = model(Precision.FLOAT, 7)) {
            Random r = new Random(7);
            int vocab = m.config().vocabSize(), items = 5;
            List<Request> requests = new ArrayList<>();
            int contextTokens = 0, continuationTokens = 0;
            for (int i = 0; i < items; i++) {
                int[] ctx = ids(r, 10 + i, vocab);
                contextTokens += ctx.length;
                for (int c = 0; c < 4; c++) {
                    int[] cont = ids(r, 1 + c, vocab);
                    continuationTokens += cont.length - 1;   // the last continuation token is never an input
                    requests.add(new Request("item " + i, Arrays.copyOf(ctx, ctx.length), cont));   // equal, not identical, arrays
                }
            }
            List<CountingDecoder> opened = new ArrayList<>();
            PrefixCachedScorer scorer = new PrefixCachedScorer(() -> {
                CountingDecoder d = new CountingDecoder(new PrefixCachedScorer.LlamaDecoder(m));
                opened.add(d);
                return d;
            }, WINDOW, vocab, q -> { throw new AssertionError("nothing here needs truncation"); });
            List<Score> got = scorer.score(requests);
            assertEquals(1, opened.size(), "one decoder (one weight preparation) per score call");
            assertEquals(items, opened.getFirst().contexts, "one context decode per item");
            assertEquals(contextTokens + continuationTokens, opened.getFirst().tokens,
                    "context tokens once per item (ModelScorer runs " + (4 * contextTokens) + ") plus each continuation");
            List<Score> want = new ModelScorer(new LlamaLm(m), 200).score(requests);
            for (int i = 0; i < requests.size(); i++)
                assertEquals(want.get(i).logLikelihood(), got.get(i).logLikelihood(), 1e-4, "request " + i);
        }
    }
}
