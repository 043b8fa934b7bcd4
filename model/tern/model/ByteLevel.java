package tern.model;

import java.io.ByteArrayOutputStream;

/**
 * GPT-2's reversible map between bytes and printable characters. A byte-level BPE vocabulary stores
 * every token as a string of these characters, so that no token contains a space, a control
 * character or half of a UTF-8 sequence, and vocab.json/merges.txt stay plain text. Printable
 * Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 bytes map, in
 * increasing order, to U+0100, U+0101, ... (so the space 0x20 becomes 'Ġ', U+0120).
 */
public final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final short[] CHAR_TO_BYTE = new short[0x180];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    /** The printable character that stands for byte {@code b} (0..255). */
    public static char charOf(int b) { return BYTE_TO_CHAR[b & 0xFF]; }

    /** The byte that character {@code c} stands for, or -1 when {@code c} is not a byte-level character. */
    public static int byteOf(char c) { return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1; }

    /** Bytes to their byte-level string: one character per byte. */
    public static String encode(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(out);
    }

    /**
     * A byte-level string back to its bytes.
     *
     * @throws IllegalArgumentException when a character is not one of the 256 byte-level characters
     */
    public static byte[] decode(String token) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); i++) {
            int b = byteOf(token.charAt(i));
            if (b < 0)
                throw new IllegalArgumentException("token '" + token + "' holds character U+"
                        + String.format("%04X", (int) token.charAt(i)) + ", which is not a byte-level character");
            out.write(b);
        }
        return out.toByteArray();
    }
}
