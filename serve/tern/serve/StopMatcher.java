package tern.serve;

import java.util.List;

/**
 * Stop strings over streamed text: pieces go in, the text that can be shown comes out. Text that could
 * still become the start of a stop string is held back until the next piece decides it; once a stop
 * string appears, everything from its first character on is dropped and the matcher reports it stopped.
 * So the concatenated output is the text up to the first stop string, whatever the piece boundaries,
 * and a streaming client never sees a character the non-streaming answer would not have.
 */
final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        for (String s : stops)
            if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
        this.stops = List.copyOf(stops);
    }

    /** Adds a piece of text; returns the part of the text so far that is now safe to show (maybe ""). */
    String push(String piece) {
        if (stopped) throw new IllegalStateException("the text already stopped");
        held.append(piece);
        int first = -1;
        for (String s : stops) {
            int at = held.indexOf(s);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0) {
            stopped = true;
            String out = held.substring(0, first);
            held.setLength(0);
            return out;
        }
        int keep = heldBackLength();
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** The longest end of the held text that is the start (not the whole) of some stop string. */
    private int heldBackLength() {
        int best = 0, n = held.length();
        for (String s : stops)
            for (int k = Math.min(n, s.length() - 1); k > best; k--)
                if (endsWithStartOf(n - k, s, k)) { best = k; break; }
        return best;
    }

    private boolean endsWithStartOf(int from, String stop, int k) {
        for (int i = 0; i < k; i++) if (held.charAt(from + i) != stop.charAt(i)) return false;
        return true;
    }

    /** Whether a stop string appeared. */
    boolean stopped() { return stopped; }

    /** At the end of generation with no stop string seen: the held-back text, which is then shown. */
    String flush() {
        String out = held.toString();
        held.setLength(0);
        return out;
    }
}
