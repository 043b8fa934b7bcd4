package tern.eval;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * acc, acc_norm, perplexity and their standard errors from a fake scorer whose log-likelihoods we set;
 * expected values are worked out by hand in the comments.
 */
class EvaluatorMetricsTest {
    static final double EPS = 1e-12;

    /** Answers requests with the given scores in order, and records the requests as text. */
    static final class ScriptedScorer implements LogLikelihood {
        final List<Score> script;
        final List<String> seen = new ArrayList<>();
        ScriptedScorer(List<Score> script) { this.script = script; }

        @Override public List<Score> score(List<Request> requests) {
            for (Request r : requests) seen.add(text(r.context()) + "|" + text(r.continuation()));
            assertEquals(script.size(), requests.size());
            return script;
        }

        private static String text(int[] ids) {
            byte[] b = new byte[ids.length];
            for (int i = 0; i < ids.length; i++) b[i] = (byte) ids[i];
            return new String(b, StandardCharsets.UTF_8);
        }
    }

    private static Item choices(String where, int gold, String... choices) {
        return MultipleChoice.sharedContext(where, "Q:", List.of(choices), gold);
    }

    private static Score s(double ll) { return new Score(ll, false); }

    private static TaskResult run(Task.Metrics kind, List<Item> items, List<Score> scores) {
        return new Evaluator(new ScriptedScorer(scores), new RequestEncoder(TextEncoder.bytes(256)), 1 << 20)
                .run("t", kind, items);
    }

    @Test
    void accAndAccNormWithStandardErrors() {
        List<Item> items = List.of(
                choices("i1", 1, "a", "bbbb"),     // lls −2, −4: acc picks 0 (wrong); per char −2, −1: norm picks 1 (right)
                choices("i2", 0, "yes", "no"),     // −1, −3: both pick 0 (right)
                choices("i3", 2, "x", "y", "z"),   // −5, −5, −1: both pick 2 (right)
                choices("i4", 0, "cat", "dog"));   // −2, −2: a tie goes to the first, 0 (right)
        List<Score> scores = List.of(s(-2), s(-4), s(-1), s(-3), s(-5), s(-5), s(-1), s(-2), s(-2));
        TaskResult r = run(Task.Metrics.ACC_AND_NORM, items, scores);
        assertEquals(4, r.items());
        // acc = [0, 1, 1, 1]: mean 0.75; sample std sqrt((0.75² + 3·0.25²)/3) = 0.5; stderr 0.5/√4 = 0.25
        assertEquals(0.75, r.metric("acc").value(), EPS);
        assertEquals(0.25, r.metric("acc").stderr(), EPS);
        // acc_norm = [1, 1, 1, 1]: mean 1, stderr 0
        assertEquals(1.0, r.metric("acc_norm").value(), EPS);
        assertEquals(0.0, r.metric("acc_norm").stderr(), EPS);
    }

    @Test
    void accNormDividesByCharactersNotBytes() {
        // "é" is 1 character (2 UTF-8 bytes), "ab" 2 characters. lls −1.5, −2.8, gold 0.
        // Per character: −1.5 vs −1.4, picks 1 (wrong). Per byte it would be −0.75 vs −1.4 and pick 0.
        TaskResult r = run(Task.Metrics.ACC_AND_NORM, List.of(choices("i", 0, "é", "ab")), List.of(s(-1.5), s(-2.8)));
        assertEquals(1.0, r.metric("acc").value(), EPS);
        assertEquals(0.0, r.metric("acc_norm").value(), EPS);
        assertEquals(Double.NaN, r.metric("acc").stderr());   // one item: no sample std
    }

    @Test
    void winograndeReportsAccOnly() {
        TaskResult r = run(Task.Metrics.ACC, List.of(choices("i", 1, "a", "b")), List.of(s(-3), s(-1)));
        assertEquals(List.of("acc"), r.metrics().stream().map(Metric::name).toList());
        assertEquals(1.0, r.metric("acc").value(), EPS);
    }

    @Test
    void lambadaAccIsGreedyMatchAndPerplexityIsExpOfMinusMeanLogLikelihood() {
        List<Item> items = new ArrayList<>();
        for (String w : List.of("one", "two", "three"))
            items.add(new Item(w, List.of(new TextPair("ctx", " " + w)), List.of(" " + w), 0));
        List<Score> scores = List.of(new Score(-1, true), new Score(-2, false), new Score(-3, true));
        TaskResult r = run(Task.Metrics.GREEDY_AND_PERPLEXITY, items, scores);
        // acc = [1, 0, 1]: mean 2/3; sample std sqrt((2·(1/3)² + (2/3)²)/2) = sqrt(1/3); stderr sqrt(1/3)/√3 = 1/3
        assertEquals(2.0 / 3, r.metric("acc").value(), EPS);
        assertEquals(1.0 / 3, r.metric("acc").stderr(), EPS);
        // perplexity = exp(−mean(−1, −2, −3)) = e²
        assertEquals(Math.exp(2), r.metric("perplexity").value(), 1e-12);
        double se = r.metric("perplexity").stderr();
        assertEquals(true, se > 0 && se < Math.exp(3) - Math.exp(1), "bootstrap stderr " + se);
    }

    @Test
    void requestsGoOutItemByItemOptionByOption() {
        ScriptedScorer scorer = new ScriptedScorer(List.of(s(-1), s(-2), s(-3), s(-4)));
        new Evaluator(scorer, new RequestEncoder(TextEncoder.bytes(256)), 1 << 20)
                .run("t", Task.Metrics.ACC, List.of(choices("i1", 0, "a", "b"), choices("i2", 1, "c", "d")));
        assertEquals(List.of("Q:| a", "Q:| b", "Q:| c", "Q:| d"), scorer.seen);
    }

    @Test
    void truncatedRequestsAreCounted() {
        // "Q:" + " a" is 4 byte tokens, the model reads 3 of them: over a window of 2 it is truncated.
        TaskResult r = new Evaluator(new ScriptedScorer(List.of(s(-1), s(-2))), new RequestEncoder(TextEncoder.bytes(256)), 2)
                .run("t", Task.Metrics.ACC, List.of(choices("i1", 0, "a", "bcd")));
        assertEquals(2, r.truncatedRequests());
    }
}
