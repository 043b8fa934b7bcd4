package tern.eval;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import tern.runtime.Backend;
import tern.runtime.Tape;
import tern.runtime.Var;
import tern.simd.CpuBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ModelScorer} against a direct computation, with a fake causal model whose logits at a position
 * are a fixed function of that row's tokens up to the position: this checks left truncation, the
 * positions read, right padding, batching and the device row gather, on the CPU backend.
 */
class ModelScorerTest {
    static final int VOCAB = 23;
    static final Backend CPU = new CpuBackend();

    @AfterAll static void close() { CPU.close(); }

    /** logits[j] at position p = 3·sin(0.7·j + 0.013·h(row[0..p])), h a rolling hash of the prefix. */
    static float[] logitsFor(int[] row, int p) {
        long h = 0;
        for (int q = 0; q <= p; q++) h = (h * 31 + row[q] + 1) % 1_000_003;
        float[] out = new float[VOCAB];
        for (int j = 0; j < VOCAB; j++) out[j] = (float) (3 * Math.sin(0.7 * j + 0.013 * h));
        return out;
    }

    static final class FakeLm implements CausalLm {
        final int window;
        int calls;
        FakeLm(int window) { this.window = window; }
        @Override public Backend backend() { return CPU; }
        @Override public int contextLength() { return window; }
        @Override public int vocabSize() { return VOCAB; }
        @Override public Var logits(Tape tape, int[] ids, int batch, int seq) {
            calls++;
            assertTrue(seq <= window, "a row of " + seq + " tokens exceeds the window " + window);
            float[] all = new float[batch * seq * VOCAB];
            for (int b = 0; b < batch; b++) {
                int[] row = java.util.Arrays.copyOfRange(ids, b * seq, (b + 1) * seq);
                for (int p = 0; p < seq; p++) System.arraycopy(logitsFor(row, p), 0, all, (b * seq + p) * VOCAB, VOCAB);
            }
            return tape.constant(tape.own(CPU.upload(all, batch * seq, VOCAB)));
        }
    }

    /** The harness's reading, computed one request at a time without batching. */
    static Score reference(Request r, int window) {
        int[] whole = r.whole();
        int from = Math.max(0, whole.length - 1 - window);
        int[] input = java.util.Arrays.copyOfRange(whole, from, whole.length - 1);
        int k = r.continuation().length;
        double ll = 0;
        boolean greedy = true;
        for (int j = 0; j < k; j++) {
            int p = input.length - k + j;
            float[] logits = logitsFor(input, p);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (float x : logits) max = Math.max(max, x);
            for (float x : logits) sum += Math.exp(x - max);
            int target = r.continuation()[j];
            ll += logits[target] - max - Math.log(sum);
            int best = 0;
            for (int i = 1; i < VOCAB; i++) if (logits[i] > logits[best]) best = i;
            greedy &= best == target;
        }
        return new Score(ll, greedy);
    }

    static List<Request> randomRequests(long seed, int count, int maxLen) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] ctx = r.ints(1 + r.nextInt(maxLen), 0, VOCAB).toArray();
            int[] cont = r.ints(1 + r.nextInt(Math.min(6, maxLen)), 0, VOCAB).toArray();
            out.add(new Request("r" + i, ctx, cont));
        }
        return out;
    }

    // 40 tries: each builds a few hundred small logit rows; enough to cover batch sizes 1..all and truncation.
    @Property(tries = 40)
    void batchedScoresEqualTheOneByOneReference(@ForAll long seed,
                                                @ForAll @IntRange(min = 1, max = 30) int count,
                                                @ForAll @IntRange(min = 6, max = 24) int window,
                                                @ForAll @IntRange(min = 1, max = 200) int tokensPerBatch) {
        List<Request> requests = randomRequests(seed, count, 30);   // contexts up to 30: some exceed the window
        List<Score> got = new ModelScorer(new FakeLm(window), tokensPerBatch).score(requests);
        assertEquals(requests.size(), got.size());
        for (int i = 0; i < requests.size(); i++) {
            Score want = reference(requests.get(i), window);
            assertEquals(want.logLikelihood(), got.get(i).logLikelihood(), 1e-9, "request " + i);
            assertEquals(want.greedy(), got.get(i).greedy(), "greedy of request " + i);
        }
    }

    @Test
    void aBigBudgetPacksEverythingIntoOneCall() {
        FakeLm lm = new FakeLm(64);
        new ModelScorer(lm, 1 << 16).score(randomRequests(3, 12, 20));
        assertEquals(1, lm.calls);
    }

    @Test
    void greedyIsTrueWhenTheTargetsAreTheArgmax() {
        int[] ctx = {5, 9};
        float[] l0 = logitsFor(new int[] {5, 9}, 1);
        int t0 = LogSoftmax.argmax(l0, 0, VOCAB);
        float[] l1 = logitsFor(new int[] {5, 9, t0}, 2);
        int t1 = LogSoftmax.argmax(l1, 0, VOCAB);
        Score s = new ModelScorer(new FakeLm(8), 64).score(List.of(new Request("g", ctx, new int[] {t0, t1}))).getFirst();
        assertTrue(s.greedy());
    }

    /**
     * Continuations longer than the window: continuation token j (0-based) belongs to piece j / (L/2); the
     * model reads the L tokens before the end of that piece (fewer at the start), so the token sees every
     * token from there up to itself.
     */
    static Score longReference(Request r, int window) {
        int[] whole = r.whole();
        int half = Math.max(1, window / 2), n = r.context().length;
        double ll = 0;
        boolean greedy = true;
        for (int j = 0; j < r.continuation().length; j++) {
            int pieceEnd = n + Math.min(r.continuation().length, (j / half + 1) * half);   // exclusive, in whole
            int from = Math.max(0, pieceEnd - 1 - window);
            int[] input = java.util.Arrays.copyOfRange(whole, from, pieceEnd - 1);
            float[] logits = logitsFor(input, n + j - 1 - from);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (float x : logits) max = Math.max(max, x);
            for (float x : logits) sum += Math.exp(x - max);
            ll += logits[whole[n + j]] - max - Math.log(sum);
            greedy &= LogSoftmax.argmax(logits, 0, VOCAB) == whole[n + j];
        }
        return new Score(ll, greedy);
    }

    @Property(tries = 30)
    void continuationsLongerThanTheWindowAreScoredInPieces(@ForAll long seed,
                                                           @ForAll @IntRange(min = 2, max = 9) int window,
                                                           @ForAll @IntRange(min = 1, max = 40) int contLength) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 4; i++)
            requests.add(new Request("long" + i, r.ints(1 + r.nextInt(12), 0, VOCAB).toArray(),
                    r.ints(contLength + i, 0, VOCAB).toArray()));
        List<Score> got = new ModelScorer(new FakeLm(window), 50).score(requests);
        for (int i = 0; i < requests.size(); i++) {
            Score want = requests.get(i).continuation().length <= window ? reference(requests.get(i), window)
                    : longReference(requests.get(i), window);
            assertEquals(want.logLikelihood(), got.get(i).logLikelihood(), 1e-9, "request " + i);
            assertEquals(want.greedy(), got.get(i).greedy(), "greedy of request " + i);
        }
    }

    @Test
    void anOutOfVocabularyTargetIsAnError() {
        var e = assertThrows(IllegalArgumentException.class, () ->
                new ModelScorer(new FakeLm(8), 64).score(List.of(new Request("x:1", new int[] {1}, new int[] {VOCAB + 3}))));
        assertTrue(e.getMessage().contains("x:1") && e.getMessage().contains("vocabulary"), e.getMessage());
    }
}
