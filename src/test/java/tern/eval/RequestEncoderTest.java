package tern.eval;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The harness's context/continuation split, checked with a tokenizer whose merges we choose. */
class RequestEncoderTest {
    /** Greedy longest match: single characters are their code, "ab" is 301, " y" is 302. */
    static final class MergingEncoder implements TextEncoder {
        private final int eot;
        MergingEncoder(int eot) { this.eot = eot; }

        @Override public int[] encode(String text) {
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < text.length(); ) {
                if (text.startsWith("ab", i)) { ids.add(301); i += 2; }
                else if (text.startsWith(" y", i)) { ids.add(302); i += 2; }
                else { ids.add((int) text.charAt(i)); i++; }
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override public int endOfText() { return eot; }
    }

    private final RequestEncoder encoder = new RequestEncoder(new MergingEncoder(0));

    @Test
    void trailingSpaceOfTheContextMovesToTheContinuation() {
        Request r = encoder.encode("t:1", "Answer: ", "yes");
        assertArrayEquals(new int[] {'A', 'n', 's', 'w', 'e', 'r', ':'}, r.context());
        assertArrayEquals(new int[] {302, 'e', 's'}, r.continuation());   // " y" merged: the space joined the word
    }

    @Test
    void continuationTokensAreTheWholeEncodingPastTheContextsLength() {
        // "xa"+"bc" encodes as [x, ab, c]; the context alone is [x, a] (2 tokens), so the continuation is [c],
        // exactly as the harness slices whole_enc[len(context_enc):].
        Request r = encoder.encode("t:2", "xa", "bc");
        assertArrayEquals(new int[] {'x', 'a'}, r.context());
        assertArrayEquals(new int[] {'c'}, r.continuation());
    }

    @Test
    void emptyContextBecomesEndOfText() {
        Request r = encoder.encode("t:3", "", " yes");
        assertArrayEquals(new int[] {0}, r.context());
        assertArrayEquals(new int[] {302, 'e', 's'}, r.continuation());
    }

    @Test
    void emptyContextWithoutEndOfTextIsAnError() {
        var e = assertThrows(IllegalArgumentException.class, () -> new RequestEncoder(new MergingEncoder(-1)).encode("f.jsonl:7", "", "x"));
        assertTrue(e.getMessage().contains("f.jsonl:7"), e.getMessage());
    }

    @Test
    void aContinuationSwallowedByTheContextIsAnError() {
        var e = assertThrows(IllegalArgumentException.class, () -> encoder.encode("f.jsonl:9", "xa", "b"));
        assertTrue(e.getMessage().contains("f.jsonl:9") && e.getMessage().contains("no tokens"), e.getMessage());
    }

    @Test
    void pythonWhitespaceIncludesNoBreakSpaceAndTheCapitalizeLowersTheRest() {
        assertTrue(PyText.rstrip("a\u00a0\u2028 ").equals("a"));
        assertTrue(PyText.capitalize("hELLO wORLD").equals("Hello world"));
        assertTrue(PyText.length("café") == 4);
    }
}
