package tern.eval;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SlidingWindowPerplexityTest {

    /** Every token scored exactly once, in order; every window fits; each target sees at least min(t, C−S+1) tokens. */
    @Property(tries = 300)
    void everyTokenIsScoredOnceWithEnoughLeftContext(@ForAll @IntRange(min = 1, max = 300) int n,
                                                     @ForAll @IntRange(min = 1, max = 64) int context,
                                                     @ForAll @IntRange(min = 1, max = 64) int strideSeed) {
        int stride = 1 + (strideSeed - 1) % context;
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) tokens[i] = 1000 + i;   // distinct, so positions can be read back
        List<Request> rs = SlidingWindowPerplexity.requests("t", 7, tokens, context, stride);
        List<Integer> scored = new ArrayList<>();
        for (Request r : rs) {
            assertTrue(r.context().length + r.continuation().length - 1 <= context, "window longer than the context");
            for (int j = 0; j < r.continuation().length; j++) {
                int t = r.continuation()[j] - 1000 + 1;      // 1-based target position after the prefix
                int leftContext = r.context().length + j;    // inputs before this target within the window
                assertTrue(leftContext >= Math.min(t, context - stride + 1),
                        "target " + t + " sees " + leftContext + " tokens (context " + context + ", stride " + stride + ")");
                scored.add(r.continuation()[j]);
            }
        }
        List<Integer> expected = new ArrayList<>();
        for (int tok : tokens) expected.add(tok);
        assertEquals(expected, scored);
        assertEquals(7, rs.getFirst().context()[0]);          // the end-of-text prefix starts the first window
        if (n >= context) assertEquals(context + 1, rs.getLast().context().length + rs.getLast().continuation().length);
    }

    @Test
    void windowsByHand() {
        // prefix P then t1..t5, context 3, stride 2: windows end at 3, 5 → [P t1 t2 | t1 t2 t3], [t2 | t3 t4 t5]... by position:
        // window 0 reads P t1 t2, scores t1 t2 t3; window 1 ends at 5, starts at 2: reads t2 t3 t4, scores t4 t5.
        List<Request> rs = SlidingWindowPerplexity.requests("t", 0, new int[] {1, 2, 3, 4, 5}, 3, 2);
        assertEquals(2, rs.size());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {0}, rs.get(0).context());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {1, 2, 3}, rs.get(0).continuation());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {2, 3}, rs.get(1).context());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {4, 5}, rs.get(1).continuation());
    }

    @Test
    void perplexityAndBitsPerByteFromAKnownScorer() {
        // Each token costs (id % 7 + 1)/10 nats whatever its context; the byte encoder gives one token a byte.
        LogLikelihood scorer = requests -> requests.stream().map(r -> {
            double ll = 0;
            for (int id : r.continuation()) ll -= (id % 7 + 1) / 10.0;
            return new Score(ll, false);
        }).toList();
        String text = "héllo wörld, a small text";
        PerplexityResult p = SlidingWindowPerplexity.evaluate("x", text, TextEncoder.bytes(256), scorer, 8, 3);
        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        double nll = 0;
        for (byte b : bytes) nll += ((b & 0xff) % 7 + 1) / 10.0;
        assertEquals(bytes.length, p.tokens());
        assertEquals(bytes.length, p.bytes());
        assertEquals(nll, p.nll(), 1e-12);
        assertEquals(Math.exp(nll / bytes.length), p.tokenPerplexity(), 1e-12);
        assertEquals(nll / Math.log(2) / bytes.length, p.bitsPerByte(), 1e-12);
    }

    @Test
    void paragraphsAreCutAtBlankLinesAndScoredAsSeparateDocuments() {
        String text = "one two\nthree\n\nfour\n \t\nfive six\n\n\n";
        assertEquals(List.of("one two\nthree", "four", "five six"), SlidingWindowPerplexity.paragraphs(text));
        List<int[]> seen = new ArrayList<>();
        LogLikelihood recorder = requests -> requests.stream().map(r -> { seen.add(r.whole()); return new Score(-1.0, false); }).toList();
        PerplexityResult p = SlidingWindowPerplexity.evaluate("t", SlidingWindowPerplexity.paragraphs(text),
                TextEncoder.bytes(256), recorder, 64, 32);
        assertEquals(3, p.documents());
        assertEquals(13 + 4 + 8, p.tokens());
        assertEquals(13 + 4 + 8, p.bytes());
        assertEquals(3, p.windows());
        assertEquals(3.0, p.nll(), 0);
        for (int[] w : seen) assertEquals(255, w[0]);   // every document starts after end-of-text
        assertEquals("four", new String(java.util.Arrays.stream(seen.get(1)).skip(1).collect(StringBuilder::new,
                StringBuilder::appendCodePoint, StringBuilder::append)));
    }

    @Test
    void aStrideLongerThanTheContextIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> SlidingWindowPerplexity.requests("t", 0, new int[] {1, 2}, 4, 5));
        assertTrue(e.getMessage().contains("--stride"), e.getMessage());
    }
}
