package tern.model;

/**
 * GPT-2's pre-tokenization: splits text into the words that BPE merges never cross, exactly as the
 * regex {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+} does
 * (with {@code \s} the Unicode White_Space property, as in Hugging Face tokenizers). Written as a
 * hand scanner over code points because it runs over every byte of a corpus and the regex engine's
 * backtracking on {@code \s+(?!\S)} is several times slower; a property test compares the two.
 */
public final class ByteLevelPreTokenizer {
    /** The regex this scanner implements, for reference and for the test that checks the scanner. */
    public static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** Receives each pre-token as the half-open range [start, end) of the text's chars. */
    @FunctionalInterface
    public interface Sink {
        void word(int start, int end);
    }

    private static final int LETTER = 0, NUMBER = 1, SPACE = 2, OTHER = 3;

    private ByteLevelPreTokenizer() {}

    /** Calls {@code sink} for each pre-token of {@code text}, in order; together they cover the text. */
    public static void split(CharSequence text, Sink sink) {
        int n = text.length();
        int i = 0;
        while (i < n) {
            int end = contraction(text, i);
            if (end < 0) end = wordAt(text, i, n);
            sink.word(i, end);
            i = end;
        }
    }

    private static int wordAt(CharSequence text, int i, int n) {
        int cp = Character.codePointAt(text, i);
        int cls = classOf(cp);
        // ' ?X+': a single ASCII space joins the letter, number or symbol run that follows it.
        if (cp == ' ' && i + 1 < n) {
            int nextCls = classOf(Character.codePointAt(text, i + 1));
            if (nextCls != SPACE) return runEnd(text, i + 1, n, nextCls);
        }
        if (cls != SPACE) return runEnd(text, i, n, cls);
        int end = runEnd(text, i, n, SPACE);
        // '\s+(?!\S)' gives back the last whitespace char when a non-space follows, so that it can
        // lead the next word; a single whitespace char before a non-space is matched by '\s+'.
        if (end < n) {
            int last = end - Character.charCount(Character.codePointBefore(text, end));
            if (last > i) return last;
        }
        return end;
    }

    private static int runEnd(CharSequence text, int i, int n, int cls) {
        while (i < n) {
            int cp = Character.codePointAt(text, i);
            if (classOf(cp) != cls) break;
            i += Character.charCount(cp);
        }
        return i;
    }

    /** End of the contraction ('s 't 're 've 'm 'll 'd, case-sensitive) starting at i, or -1. */
    private static int contraction(CharSequence text, int i) {
        if (text.charAt(i) != '\'' || i + 1 >= text.length()) return -1;
        char a = text.charAt(i + 1);
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if (i + 2 >= text.length()) return -1;
        char b = text.charAt(i + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
        return -1;
    }

    private static int classOf(int cp) {
        if (cp < 0x80) { // the common case without a table lookup
            if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return LETTER;
            if (cp >= '0' && cp <= '9') return NUMBER;
            if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return SPACE;
            return OTHER;
        }
        if (isWhiteSpace(cp)) return SPACE;
        return switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            default -> OTHER;
        };
    }

    /** Unicode's White_Space property (what Rust's and Python-regex's \s mean), not Java's isWhitespace. */
    static boolean isWhiteSpace(int cp) {
        return switch (cp) {
            case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F,
                 0x3000 -> true;
            default -> cp >= 0x2000 && cp <= 0x200A;
        };
    }
}
