package tern.model;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Streams a text in chunks of about {@code targetChars}, cut only where a pre-token must end: right
 * after a line feed that a non-whitespace character follows. Encoding the chunks one by one therefore
 * gives exactly the tokens of the whole text, without ever holding a multi-GB file in memory.
 */
public final class TokenizerTextChunks {
    /** Receives each chunk; {@code last} is true for the final one (which may be empty). */
    @FunctionalInterface
    public interface Sink {
        void chunk(String text, boolean last) throws IOException;
    }

    /** A chunk grows past its target only while no safe cut appears; beyond this many targets it is cut anyway. */
    private static final int GIVE_UP_FACTOR = 64;

    private TokenizerTextChunks() {}

    /** A UTF-8 reader for {@code file} that replaces malformed bytes with U+FFFD instead of failing. */
    public static Reader open(Path file) throws IOException {
        return new InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE));
    }

    public static void read(Reader in, int targetChars, Sink sink) throws IOException {
        StringBuilder buf = new StringBuilder(targetChars + 8192);
        char[] block = new char[64 * 1024];
        int scanFrom = 0;
        int n;
        while ((n = in.read(block)) > 0) {
            buf.append(block, 0, n);
            while (buf.length() > targetChars) {
                int cut = safeCut(buf, Math.max(scanFrom, targetChars));
                if (cut < 0 && buf.length() > (long) targetChars * GIVE_UP_FACTOR)
                    cut = Character.isHighSurrogate(buf.charAt(buf.length() - 1)) ? buf.length() - 1 : buf.length();
                if (cut < 0) { scanFrom = Math.max(targetChars, buf.length() - 1); break; }
                sink.chunk(buf.substring(0, cut), false);
                buf.delete(0, cut);
                scanFrom = 0;
            }
        }
        sink.chunk(buf.toString(), true);
    }

    /** The first index ≥ from just after a '\n' that a non-whitespace char follows, or -1. */
    private static int safeCut(CharSequence s, int from) {
        for (int i = Math.max(1, from); i < s.length(); i++) {
            if (s.charAt(i - 1) == '\n' && !ByteLevelPreTokenizer.isWhiteSpace(Character.codePointAt(s, i))) return i;
        }
        return -1;
    }
}
