package tern.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Strict UTF-8 reading of whole text files that says where a file stops being UTF-8: the JDK's own decoder
 * reports only "Input length = 1", naming neither the file nor the place.
 */
public final class Utf8 {
    private Utf8() {}

    /** Bytes that are not UTF-8: the file, the byte offset of the first bad sequence and its bytes. */
    public static final class MalformedText extends CharacterCodingException {
        private final transient Path file;
        private final long offset;
        private final String bytes;

        MalformedText(Path file, long offset, String bytes) {
            this.file = file;
            this.offset = offset;
            this.bytes = bytes;
        }

        public long offset() { return offset; }

        /** "not valid UTF-8 at byte N (0x.. 0x..)", without the file. */
        public String problem() { return "not valid UTF-8 at byte " + offset + " (" + bytes + ")"; }

        @Override public String getMessage() { return file + ": " + problem(); }
    }

    /** The text of {@code file}, which must be UTF-8 throughout (a leading byte-order mark is kept). */
    public static String read(Path file) throws IOException {
        return decode(file, Files.readAllBytes(file));
    }

    /** {@code bytes} (the content of {@code file}) as text, strictly. */
    public static String decode(Path file, byte[] bytes) throws MalformedText {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);  // UTF-8 never decodes to more UTF-16 units than bytes
        CoderResult r = decoder.decode(in, out, true);
        if (!r.isError()) r = decoder.flush(out);
        if (r.isError()) {
            int at = in.position();
            StringBuilder hex = new StringBuilder();
            for (int i = at; i < Math.min(bytes.length, at + Math.max(1, r.length())); i++)
                hex.append(hex.isEmpty() ? "" : " ").append(String.format("0x%02X", bytes[i] & 0xFF));
            throw new MalformedText(file, at, hex.toString());
        }
        return out.flip().toString();
    }
}
