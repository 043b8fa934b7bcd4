package tern.eval;

import java.util.Locale;

/**
 * The few Python string operations the harness's prompt templates use, with Python's meaning (its
 * whitespace set differs from Java's {@code strip()}, and {@code capitalize()} lower-cases the rest).
 */
final class PyText {
    private PyText() {}

    /** Python's {@code str.isspace()} for one code point: Unicode spaces, line/paragraph separators, controls 9–13, 28–31, 133. */
    static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
    }

    static String strip(String s) { return rstrip(lstrip(s)); }

    static String lstrip(String s) {
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            if (!isSpace(cp)) break;
            i += Character.charCount(cp);
        }
        return s.substring(i);
    }

    static String rstrip(String s) {
        int end = s.length();
        while (end > 0) {
            int cp = s.codePointBefore(end);
            if (!isSpace(cp)) break;
            end -= Character.charCount(cp);
        }
        return s.substring(0, end);
    }

    /** Python 3.8+ {@code str.capitalize()}: first character title-cased, the rest lower-cased. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        int n = Character.charCount(first);
        return new StringBuilder().appendCodePoint(Character.toTitleCase(first))
                .append(s.substring(n).toLowerCase(Locale.ROOT)).toString();
    }

    /** Python's {@code len(str)}: code points, not UTF-16 units. */
    static int length(String s) { return s.codePointCount(0, s.length()); }
}
