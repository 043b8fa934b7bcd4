package tern.reliability;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * One edit of a file's bytes, as a fuzzer makes them. Positions are fractions of the current length, so a
 * chain of edits stays meaningful whatever the earlier ones did to the length; jqwik generates (and
 * shrinks) them.
 */
sealed interface Mutation {
    byte[] apply(byte[] in);

    /** Numbers a header might hold that its reader must refuse or survive. */
    List<String> HOSTILE_NUMBERS = List.of("-1", "0", "1", "-9223372036854775808", "9223372036854775807", "9223372036854775808",
            "18446744073709551615", "4294967296", "2147483647", "2147483648", "-2147483649", "99999999999999999999999",
            "1e308", "1e400", "-1e400", "0.5", "NaN", "1.0", "65536", "65537");
    List<Long> HOSTILE_WORDS = List.of(0L, 1L, -1L, 7L, 8L, 63L, 64L, 65L, 0x7FFFFFFFL, 0x80000000L, 0xFFFFFFFFL,
            0x100000000L, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40, 100L << 20);
    List<String> JSON_BITS = List.of("{", "}", "[", "]", "\"", ",", ":", "null", "true", "\\u0000", "\\ud800", "\uFEFF", "\n", "é");

    /** XOR one byte with a one-bit mask. */
    record Flip(double at, int bit) implements Mutation {
        public byte[] apply(byte[] in) {
            if (in.length == 0) return in;
            byte[] out = in.clone();
            int i = index(at, in.length);
            out[i] ^= (byte) (1 << bit);
            return out;
        }
    }

    /** Replace one byte. */
    record SetByte(double at, byte value) implements Mutation {
        public byte[] apply(byte[] in) {
            if (in.length == 0) return in;
            byte[] out = in.clone();
            out[index(at, in.length)] = value;
            return out;
        }
    }

    /** Cut the file at a position. */
    record Truncate(double at) implements Mutation {
        public byte[] apply(byte[] in) { return Arrays.copyOf(in, index(at, in.length + 1)); }
    }

    /** Insert bytes at a position. */
    record Insert(double at, byte[] bytes) implements Mutation {
        public byte[] apply(byte[] in) {
            int i = index(at, in.length + 1);
            ByteArrayOutputStream b = new ByteArrayOutputStream(in.length + bytes.length);
            b.write(in, 0, i);
            b.write(bytes, 0, bytes.length);
            b.write(in, i, in.length - i);
            return b.toByteArray();
        }

        @Override public String toString() { return "Insert[at=" + at + ", bytes=" + new String(bytes, StandardCharsets.ISO_8859_1) + "]"; }
    }

    /** Remove a run of bytes. */
    record Delete(double at, int length) implements Mutation {
        public byte[] apply(byte[] in) {
            int i = index(at, in.length + 1), end = Math.min(in.length, i + length);
            byte[] out = new byte[in.length - (end - i)];
            System.arraycopy(in, 0, out, 0, i);
            System.arraycopy(in, end, out, i, in.length - end);
            return out;
        }
    }

    /** Copy a run of the file over another place of it (duplicated or swapped structure). */
    record Splice(double from, double to, int length) implements Mutation {
        public byte[] apply(byte[] in) {
            if (in.length == 0) return in;
            int f = index(from, in.length), t = index(to, in.length), n = Math.min(length, Math.min(in.length - f, in.length - t));
            byte[] out = in.clone();
            System.arraycopy(in, f, out, t, n);
            return out;
        }
    }

    /** Replace the k-th decimal number of the text (a JSON size, offset, id, shape) with a hostile one. */
    record NumberSwap(double which, String value) implements Mutation {
        private static final Pattern DIGITS = Pattern.compile("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?");

        public byte[] apply(byte[] in) {
            String text = new String(in, StandardCharsets.ISO_8859_1);   // byte-preserving
            List<int[]> spans = new ArrayList<>();
            Matcher m = DIGITS.matcher(text);
            while (m.find()) spans.add(new int[] {m.start(), m.end()});
            if (spans.isEmpty()) return in;
            int[] s = spans.get(index(which, spans.size()));
            return (text.substring(0, s[0]) + value + text.substring(s[1])).getBytes(StandardCharsets.ISO_8859_1);
        }
    }

    /** Overwrite a little-endian 4- or 8-byte word at an 4-aligned offset of a binary header. */
    record Word(int offset, int width, long value) implements Mutation {
        public byte[] apply(byte[] in) {
            if (offset + width > in.length) return in;
            byte[] out = in.clone();
            ByteBuffer b = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
            if (width == 8) b.putLong(offset, value);
            else b.putInt(offset, (int) value);
            return out;
        }
    }

    private static int index(double fraction, int length) {
        return Math.min(length - 1, (int) (fraction * length));
    }

    // ---- generation ----------------------------------------------------------------------------------

    static Arbitrary<Mutation> any() {
        Arbitrary<Double> at = Arbitraries.doubles().between(0, 1).ofScale(6);
        Arbitrary<byte[]> junk = Arbitraries.oneOf(
                Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(16),
                Arbitraries.of(JSON_BITS).map(s -> s.getBytes(StandardCharsets.UTF_8)),
                Arbitraries.of(HOSTILE_NUMBERS).map(s -> s.getBytes(StandardCharsets.US_ASCII)));
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Combinators.combine(at, Arbitraries.integers().between(0, 7)).as(Flip::new)),
                net.jqwik.api.Tuple.of(2, Combinators.combine(at, Arbitraries.bytes()).as(SetByte::new)),
                net.jqwik.api.Tuple.of(2, at.map(Truncate::new)),
                net.jqwik.api.Tuple.of(2, Combinators.combine(at, junk).as(Insert::new)),
                net.jqwik.api.Tuple.of(2, Combinators.combine(at, Arbitraries.integers().between(1, 64)).as(Delete::new)),
                net.jqwik.api.Tuple.of(2, Combinators.combine(at, at, Arbitraries.integers().between(1, 256)).as(Splice::new)),
                net.jqwik.api.Tuple.of(5, Combinators.combine(at, Arbitraries.of(HOSTILE_NUMBERS)).as(NumberSwap::new)),
                net.jqwik.api.Tuple.of(3, Combinators.combine(Arbitraries.integers().between(0, 16).map(i -> i * 4),
                        Arbitraries.of(4, 8), Arbitraries.of(HOSTILE_WORDS)).as(Word::new)));
    }

    /** One to four edits applied in order. */
    static Arbitrary<List<Mutation>> chains() {
        return any().list().ofMinSize(1).ofMaxSize(4);
    }

    static byte[] applyAll(List<Mutation> chain, byte[] seed) {
        byte[] b = seed;
        for (Mutation m : chain) b = m.apply(b);
        return b;
    }
}
