package tern.checkpoint;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated header of a safetensors file: 8 bytes of little-endian header length, that many
 * bytes of UTF-8 JSON mapping each tensor name to {dtype, shape, data_offsets} (offsets relative to the
 * first byte after the header) plus an optional {@code __metadata__} object of strings, then the data.
 *
 * <p>Everything is checked before any tensor is touched, as the reference implementation does: the header
 * fits the file, the JSON is well formed, every dtype is known, every shape × element size equals its byte
 * span, and the spans tile the data section exactly (in bounds, no overlap, no gap, nothing left over).
 */
public record SafetensorsHeader(Path file, long dataStart, long dataSize, Map<String, Entry> entries,
                                Map<String, String> metadata) {

    /**
     * Headers larger than this are refused before a byte of them is decoded: the reference implementation's
     * {@code MAX_HEADER_SIZE} (100,000,000 bytes), so every file it writes opens here and no other does. Real
     * headers are tiny next to it (about 100 bytes a tensor: 30 kB for a 1B model's 300 tensors).
     */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String METADATA = "__metadata__";

    /** One tensor: its type, shape, and [begin, end) in the data section. */
    public record Entry(String name, SafetensorsDType dtype, int[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        public long byteSize() { return end - begin; }

        @Override public int[] shape() { return shape.clone(); }

        @Override public String toString() { return name + " " + dtype + Arrays.toString(shape) + " [" + begin + ", " + end + ")"; }
    }

    /** Reads and validates the header of {@code file}, whose whole content is {@code bytes}. */
    public static SafetensorsHeader parse(Path file, MemorySegment bytes) {
        long fileSize = bytes.byteSize();
        if (fileSize < 8)
            throw new CheckpointException(file, "truncated: " + fileSize + " bytes, fewer than the 8-byte header size");
        long headerSize = bytes.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerSize < 2 || headerSize > fileSize - 8)
            throw new CheckpointException(file, "header size " + Long.toUnsignedString(headerSize)
                    + " does not fit the file (" + (fileSize - 8) + " bytes follow the size field)");
        if (headerSize > MAX_HEADER_BYTES)
            throw new CheckpointException(file, "header size " + headerSize + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
        String json = decodeUtf8(file, bytes.asSlice(8, headerSize));
        Map<String, Object> root;
        try {
            root = Json.parseUniqueObject(json);
        } catch (Json.DuplicateKeyException e) {
            // the last one would silently win and the first one's bytes show up later as an unexplained gap
            throw new CheckpointException(file, "header names the same key twice: " + e.getMessage());
        } catch (Json.JsonException e) {
            throw new CheckpointException(file, "header is not valid JSON: " + e.getMessage());
        }
        long dataStart = 8 + headerSize;
        long dataSize = fileSize - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : root.entrySet()) {
            if (e.getKey().equals(METADATA)) metadata = parseMetadata(file, e.getValue());
            else entries.put(e.getKey(), parseEntry(file, e.getKey(), e.getValue(), dataSize));
        }
        checkTiling(file, entries.values(), dataSize);
        return new SafetensorsHeader(file, dataStart, dataSize, Collections.unmodifiableMap(entries),
                Collections.unmodifiableMap(metadata));
    }

    private static String decodeUtf8(Path file, MemorySegment header) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(header.asByteBuffer())          // straight from the mapping: no copy of the bytes
                    .toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file, "header is not valid UTF-8");
        }
    }

    private static Map<String, String> parseMetadata(Path file, Object value) {
        if (!(value instanceof Map<?, ?> map))
            throw new CheckpointException(file, "field " + METADATA + " must be an object of strings");
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            if (!(e.getValue() instanceof String s))
                throw new CheckpointException(file, "field " + METADATA + "." + e.getKey() + " must be a string, not " + e.getValue());
            out.put((String) e.getKey(), s);
        }
        return out;
    }

    private static Entry parseEntry(Path file, String name, Object value, long dataSize) {
        String where = "tensor '" + name + "': ";
        if (name.isEmpty()) throw new CheckpointException(file, "a tensor has an empty name");
        if (!(value instanceof Map<?, ?> map))
            throw new CheckpointException(file, where + "expected an object with dtype, shape and data_offsets");
        if (!(map.get("dtype") instanceof String dtypeName))
            throw new CheckpointException(file, where + "missing or non-string dtype");
        SafetensorsDType dtype = SafetensorsDType.byName(dtypeName);
        if (dtype == null) throw new CheckpointException(file, where + "unknown dtype '" + dtypeName + "'");
        int[] shape = integers(file, where, "shape", map.get("shape"), -1, Integer.MAX_VALUE);
        long[] offsets = longs(file, where, map.get("data_offsets"));
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new CheckpointException(file, where + "data_offsets [" + begin + ", " + end + "] end before they begin");
        if (end > dataSize)
            throw new CheckpointException(file, where + "data_offsets [" + begin + ", " + end + "] run past the data section of " + dataSize + " bytes");
        long expected;
        try {
            long n = 1;
            for (int d : shape) n = Math.multiplyExact(n, d);
            expected = Math.multiplyExact(n, dtype.bytes);
        } catch (ArithmeticException overflow) {
            throw new CheckpointException(file, where + "shape " + Arrays.toString(shape) + " overflows a 64-bit size");
        }
        if (expected != end - begin)
            throw new CheckpointException(file, where + "shape " + Arrays.toString(shape) + " of " + dtype + " needs " + expected
                    + " bytes but data_offsets [" + begin + ", " + end + "] span " + (end - begin));
        return new Entry(name, dtype, shape, begin, end);
    }

    private static int[] integers(Path file, String where, String field, Object value, int length, long max) {
        if (!(value instanceof List<?> list) || (length >= 0 && list.size() != length))
            throw new CheckpointException(file, where + field + " must be a list" + (length >= 0 ? " of " + length : "") + " of integers");
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long v) || v < 0 || v > max)
                throw new CheckpointException(file, where + field + "[" + i + "] = " + list.get(i) + " is not an integer in [0, " + max + "]");
            out[i] = v.intValue();
        }
        return out;
    }

    private static long[] longs(Path file, String where, Object value) {
        if (!(value instanceof List<?> list) || list.size() != 2)
            throw new CheckpointException(file, where + "data_offsets must be a list of 2 integers");
        long[] out = new long[2];
        for (int i = 0; i < 2; i++) {
            if (!(list.get(i) instanceof Long v) || v < 0)
                throw new CheckpointException(file, where + "data_offsets[" + i + "] = " + list.get(i) + " is not a non-negative integer");
            out[i] = v;
        }
        return out;
    }

    /** The spans must cover [0, dataSize) exactly once, as the format requires. */
    private static void checkTiling(Path file, java.util.Collection<Entry> entries, long dataSize) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin < covered)
                throw new CheckpointException(file, "tensor '" + e.name + "': data_offsets [" + e.begin + ", " + e.end
                        + "] overlap tensor '" + previous.name + "' [" + previous.begin + ", " + previous.end + ")");
            if (e.begin > covered)
                throw new CheckpointException(file, "tensor '" + e.name + "': data_offsets [" + e.begin + ", " + e.end
                        + "] leave a gap of " + (e.begin - covered) + " bytes before them");
            covered = e.end;
            if (e.end > e.begin || previous == null) previous = e;
        }
        if (covered != dataSize)
            throw new CheckpointException(file, (dataSize - covered) + " bytes after the last tensor are not described by the header");
    }
}
