package tern.checkpoint;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Encoding and decoding of one GGUF block of each type Tern handles; a tensor is its rows' blocks in order.
 *
 * <p>The ternary layouts (the bit positions llama.cpp's ggml-quants.c reads; trit t ∈ {−1, 0, 1} is
 * stored as the digit t + 1):
 * <ul>
 *   <li>TQ2_0, 66 bytes: 64 bytes of 2-bit digits, then the fp16 scale. Weight e of the block lives in
 *       byte 32·⌊e/128⌋ + e mod 32, at bits 2·⌊(e mod 128)/32⌋.</li>
 *   <li>TQ1_0, 54 bytes: 48 bytes holding five base-3 digits each, 4 bytes holding four, then the fp16
 *       scale. Weights 0..159 fill bytes 0..31 (byte e mod 32, digit ⌊e/32⌋), weights 160..239 bytes
 *       32..47 (byte 32 + r mod 16, digit ⌊r/16⌋ with r = e − 160), weights 240..255 bytes 48..51
 *       (byte 48 + r mod 4, digit ⌊r/4⌋, r = e − 240). Digit 0 is the most significant of a byte's number
 *       q (a 4-digit byte is multiplied by 3 to fill five), and the byte stores ⌈256·q/243⌉, so that
 *       digit n reads back as ⌊3·((byte·3ⁿ) mod 256) / 256⌋ without a division.</li>
 * </ul>
 * Q8_0 (34 bytes): an fp16 scale d, then 32 signed bytes q; weight = d·q.
 */
public final class GgufBlocks {
    private GgufBlocks() {}

    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int[] POW3 = {1, 3, 9, 27, 81, 243};

    // ---- ternary ---------------------------------------------------------------------------------------

    /** Writes 256 trits (from {@code trits[from..from+256)}) and the fp16 scale {@code d} as one block at {@code at}. */
    public static void encodeTernary(GgufType type, byte[] trits, int from, short d, MemorySegment out, long at) {
        switch (type) {
            case TQ2_0 -> {
                for (int b = 0; b < 64; b++) out.set(ValueLayout.JAVA_BYTE, at + b, (byte) 0);
                for (int e = 0; e < 256; e++) {
                    int digit = trit(trits[from + e]) + 1;
                    long pos = at + 32L * (e / 128) + e % 32;
                    int shift = 2 * ((e % 128) / 32);
                    out.set(ValueLayout.JAVA_BYTE, pos, (byte) (out.get(ValueLayout.JAVA_BYTE, pos) | digit << shift));
                }
                out.set(F16, at + 64, d);
            }
            case TQ1_0 -> {
                for (int m = 0; m < 32; m++) out.set(ValueLayout.JAVA_BYTE, at + m, base3(trits, from, m, 32, 5));
                for (int m = 0; m < 16; m++) out.set(ValueLayout.JAVA_BYTE, at + 32 + m, base3(trits, from + 160, m, 16, 5));
                for (int m = 0; m < 4; m++) out.set(ValueLayout.JAVA_BYTE, at + 48 + m, base3(trits, from + 240, m, 4, 4));
                out.set(F16, at + 52, d);
            }
            default -> throw new IllegalArgumentException(type + " is not a ternary type");
        }
    }

    /** Digits n = 0..count-1 of a byte are the trits at m + n·step, most significant first, scaled to ⌈256·q/243⌉. */
    private static byte base3(byte[] trits, int from, int m, int step, int count) {
        int q = 0;
        for (int n = 0; n < count; n++) q = q * 3 + trit(trits[from + m + n * step]) + 1;
        for (int n = count; n < 5; n++) q *= 3;
        return (byte) ((q * 256 + 242) / 243);
    }

    private static int trit(byte t) {
        if (t < -1 || t > 1) throw new IllegalArgumentException("a ternary weight must be -1, 0 or 1, got " + t);
        return t;
    }

    /** Reads one ternary block at {@code at}: its 256 trits into {@code trits[to..to+256)}; returns the fp16 scale bits. */
    public static short decodeTernary(GgufType type, MemorySegment in, long at, byte[] trits, int to) {
        switch (type) {
            case TQ2_0 -> {
                for (int e = 0; e < 256; e++) {
                    int b = in.get(ValueLayout.JAVA_BYTE, at + 32L * (e / 128) + e % 32) & 0xFF;
                    int digit = b >> 2 * ((e % 128) / 32) & 3;
                    // digit 3 does not occur in a valid file; ggml reads it as +2, which no trit can hold
                    if (digit == 3) throw new IllegalArgumentException("TQ2_0 block holds the digit 3 (weight " + e + "), which is not a trit");
                    trits[to + e] = (byte) (digit - 1);
                }
                return in.get(F16, at + 64);
            }
            case TQ1_0 -> {
                for (int e = 0; e < 160; e++) trits[to + e] = digit(in, at + e % 32, e / 32);
                for (int r = 0; r < 80; r++) trits[to + 160 + r] = digit(in, at + 32 + r % 16, r / 16);
                for (int r = 0; r < 16; r++) trits[to + 240 + r] = digit(in, at + 48 + r % 4, r / 4);
                return in.get(F16, at + 52);
            }
            default -> throw new IllegalArgumentException(type + " is not a ternary type");
        }
    }

    private static byte digit(MemorySegment in, long pos, int n) {
        int q = (in.get(ValueLayout.JAVA_BYTE, pos) & 0xFF) * POW3[n] & 0xFF;
        return (byte) ((q * 3 >> 8) - 1);
    }

    // ---- floats ----------------------------------------------------------------------------------------

    /**
     * Decodes {@code count} weights (whole blocks) of a non-ternary type starting at byte {@code at} into
     * {@code out[to..]}.
     */
    public static void decodeFloats(GgufType type, MemorySegment in, long at, long count, float[] out, int to) {
        switch (type) {
            case F32 -> { for (int i = 0; i < count; i++) out[to + i] = in.get(F32, at + 4L * i); }
            case F16 -> { for (int i = 0; i < count; i++) out[to + i] = Float.float16ToFloat(in.get(F16, at + 2L * i)); }
            case BF16 -> { for (int i = 0; i < count; i++) out[to + i] = HalfFloats.fromBF16(in.get(F16, at + 2L * i)); }
            case Q8_0 -> {
                for (long b = 0; b < count / 32; b++) {
                    long base = at + 34 * b;
                    float d = Float.float16ToFloat(in.get(F16, base));
                    for (int i = 0; i < 32; i++) out[(int) (to + 32 * b + i)] = d * in.get(ValueLayout.JAVA_BYTE, base + 2 + i);
                }
            }
            case TQ1_0, TQ2_0 -> {
                byte[] trits = new byte[256];
                for (long b = 0; b < count / 256; b++) {
                    float d = Float.float16ToFloat(decodeTernary(type, in, at + type.blockBytes * b, trits, 0));
                    for (int i = 0; i < 256; i++) out[(int) (to + 256 * b + i)] = trits[i] * d;
                }
            }
        }
    }

    /** Encodes {@code count} floats of {@code values[from..]} as F32, F16, BF16 or Q8_0 at {@code at}. */
    public static void encodeFloats(GgufType type, float[] values, int from, int count, MemorySegment out, long at) {
        switch (type) {
            case F32 -> { for (int i = 0; i < count; i++) out.set(F32, at + 4L * i, values[from + i]); }
            case F16 -> { for (int i = 0; i < count; i++) out.set(F16, at + 2L * i, Float.floatToFloat16(values[from + i])); }
            case BF16 -> { for (int i = 0; i < count; i++) out.set(F16, at + 2L * i, HalfFloats.toBF16(values[from + i])); }
            case Q8_0 -> {
                for (int b = 0; b < count / 32; b++) {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[from + 32 * b + i]));
                    float d = amax / 127f;
                    float inv = d == 0 ? 0 : 1 / d;
                    long base = at + 34L * b;
                    out.set(F16, base, Float.floatToFloat16(d));
                    for (int i = 0; i < 32; i++)
                        out.set(ValueLayout.JAVA_BYTE, base + 2 + i, (byte) Math.round(values[from + 32 * b + i] * inv));
                }
            }
            default -> throw new IllegalArgumentException(type + " stores trits: use encodeTernary");
        }
    }
}
