package tern.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * Stop strings over pieces: whatever the piece boundaries, the text shown equals the reference (the
 * text up to the earliest stop string found once the piece that completes the first one has arrived),
 * and no character is shown that the reference does not keep.
 */
class StopMatcherTest {

    @Property(tries = 300)
    void piecesShowTheTextUpToTheFirstStop(@ForAll long seed, @ForAll @IntRange(min = 0, max = 4) int stopCount,
                                           @ForAll @IntRange(min = 0, max = 60) int length) {
        Random r = new Random(seed);
        String text = word(r, length);                         // over "abc": stops occur often
        List<String> stops = new ArrayList<>();
        for (int i = 0; i < stopCount; i++) stops.add(word(r, 1 + r.nextInt(4)));
        List<Integer> cuts = new ArrayList<>();               // piece ends, increasing, the last = length
        for (int at = 0; at < length; ) { at = Math.min(length, at + 1 + r.nextInt(5)); cuts.add(at); }

        StopMatcher m = new StopMatcher(stops);
        StringBuilder shown = new StringBuilder();
        int from = 0;
        for (int end : cuts) {
            shown.append(m.push(text.substring(from, end)));
            from = end;
            String kept = reference(text, stops, cuts, end);
            if (m.stopped()) {
                assertEquals(kept, shown.toString(), "stopped after piece ending at " + end);
                return;
            }
            assertEquals(true, kept.startsWith(shown.toString()), "shown '" + shown + "' is not a prefix of '" + kept + "'");
        }
        shown.append(m.flush());
        assertEquals(reference(text, stops, cuts, length), shown.toString());
    }

    /** The first piece end at which some stop occurs decides; cut at the earliest occurrence then. */
    private static String reference(String text, List<String> stops, List<Integer> cuts, int upTo) {
        for (int end : cuts) {
            if (end > upTo) break;
            String seen = text.substring(0, end);
            int first = -1;
            for (String s : stops) {
                int at = seen.indexOf(s);
                if (at >= 0 && (first < 0 || at < first)) first = at;
            }
            if (first >= 0) return seen.substring(0, first);
        }
        return text;
    }

    private static String word(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append((char) ('a' + r.nextInt(3)));
        return sb.toString();
    }

    @Test
    void heldBackTextWaitsForTheNextPiece() {
        StopMatcher m = new StopMatcher(List.of("END"));
        assertEquals("abc ", m.push("abc E"));
        assertEquals("", m.push("N"));
        assertEquals("ENx", m.push("x"));              // not the stop after all: shown now
        assertEquals("y", m.push("yEND and more"));
        assertEquals(true, m.stopped());
        assertThrows(IllegalStateException.class, () -> m.push("z"));
        assertThrows(IllegalArgumentException.class, () -> new StopMatcher(List.of("")));
    }
}
