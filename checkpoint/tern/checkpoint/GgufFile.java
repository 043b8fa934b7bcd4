package tern.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (v2 or v3), memory-mapped and validated before anything else reads it: every count, string
 * length and array length is checked against the bytes left in the file before it is used to allocate, and
 * every tensor's type, shape, offset, alignment and size against the data section, so a truncated or
 * altered file fails here with {@link CheckpointException} naming the file and the problem.
 *
 * <p>Metadata values come back as Long (every integer type), Double (f32, f64), Boolean, String, or a
 * List of those (arrays; arrays of arrays are refused: no llama model uses them).
 */
public final class GgufFile implements AutoCloseable {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int MAX_DIMS = 4;

    /** One tensor: GGUF dims (innermost first), type, and where its bytes are (absolute file offset). */
    public record TensorInfo(String name, long[] dims, GgufType type, long offset, long bytes) {
        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }

        /** The shape in Tern's order (outermost first: a matrix is [rows, cols]). */
        public int[] shape() {
            int[] s = new int[dims.length];
            for (int i = 0; i < dims.length; i++) s[i] = (int) dims[dims.length - 1 - i];
            return s;
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment map;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;

    private GgufFile(Path file, Arena arena, MemorySegment map, Map<String, Object> metadata, Map<String, TensorInfo> tensors) {
        this.file = file;
        this.arena = arena;
        this.map = map;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** Maps and validates {@code file}. */
    public static GgufFile open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment map;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            } catch (IOException e) {
                throw new CheckpointException(file, "cannot be read", e);
            }
            Parser p = new Parser(file, map);
            GgufFile g = p.parse(arena);
            return g;
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Whether {@code file} starts with GGUF's magic (so a caller can tell a .gguf from another format). */
    public static boolean looksLikeGguf(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) >= 0) { }
            return b.position() == 4 && b.getInt(0) == GgufWriter.MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    public Path file() { return file; }

    public Map<String, Object> metadata() { return metadata; }

    /** Tensors in file order. */
    public Map<String, TensorInfo> tensors() { return tensors; }

    /** The tensor's bytes (a slice of the mapping, valid until close). */
    public MemorySegment data(TensorInfo t) { return map.asSlice(t.offset(), t.bytes()); }

    /** A required metadata value of a type, or an error naming the key. */
    public <T> T required(String key, Class<T> type) {
        Object v = metadata.get(key);
        if (v == null) throw new CheckpointException(file, "metadata key '" + key + "' is missing");
        return typed(key, v, type);
    }

    /** An optional metadata value, null when absent. */
    public <T> T optional(String key, Class<T> type) {
        Object v = metadata.get(key);
        return v == null ? null : typed(key, v, type);
    }

    private <T> T typed(String key, Object v, Class<T> type) {
        if (!type.isInstance(v))
            throw new CheckpointException(file, "metadata key '" + key + "' is " + describe(v) + ", expected " + type.getSimpleName().toLowerCase(java.util.Locale.ROOT));
        return type.cast(v);
    }

    private static String describe(Object v) {
        return switch (v) {
            case String s -> "a string";
            case List<?> l -> "an array";
            case Boolean b -> "a bool";
            case Double d -> "a float";
            default -> "an integer";
        };
    }

    @Override public void close() { arena.close(); }

    /** The header parser: a cursor that never reads past the end and names what it was reading when it would. */
    private static final class Parser {
        private final Path file;
        private final MemorySegment map;
        private final long size;
        private long pos;

        Parser(Path file, MemorySegment map) {
            this.file = file;
            this.map = map;
            this.size = map.byteSize();
        }

        private CheckpointException bad(String problem) { return new CheckpointException(file, problem); }

        private void need(long n, String what) {
            if (n < 0 || n > size - pos)
                throw bad("truncated: " + what + " needs " + n + " bytes at offset " + pos + ", the file has " + (size - pos) + " left");
        }

        private int u8(String what) { need(1, what); return map.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF; }
        private int i32(String what) { need(4, what); int v = map.get(I32, pos); pos += 4; return v; }
        private long u32(String what) { return i32(what) & 0xFFFFFFFFL; }
        private long i64(String what) { need(8, what); long v = map.get(I64, pos); pos += 8; return v; }

        /** A count or length (uint64) that must fit in the bytes left, each item taking at least {@code minBytes}. */
        private long count(String what, int minBytes) {
            long n = i64(what);
            if (n < 0 || n > (size - pos) / Math.max(1, minBytes))
                throw bad(what + " is " + Long.toUnsignedString(n) + ", more than the " + (size - pos) + " bytes left can hold");
            return n;
        }

        private String string(String what) {
            long n = count(what + " length", 1);
            need(n, what);
            byte[] b = map.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw bad(what + " is not valid UTF-8");
            }
        }

        GgufFile parse(Arena arena) {
            need(4, "the magic");
            if (map.get(I32, 0) != GgufWriter.MAGIC) throw bad("not a GGUF file (the first 4 bytes are not 'GGUF')");
            pos = 4;
            long version = u32("the version");
            if (version != 2 && version != 3) throw bad("GGUF version " + version + " (Tern reads versions 2 and 3)");
            long tensorCount = count("the tensor count", 24);
            long kvCount = count("the metadata count", 13);
            Map<String, Object> meta = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = string("metadata key " + i);
                if (meta.containsKey(key)) throw bad("metadata key '" + key + "' appears twice");
                long typeId = u32("the type of '" + key + "'");
                GgufValueType type = GgufValueType.byId(typeId);
                if (type == null) throw bad("metadata key '" + key + "' has unknown value type " + typeId);
                meta.put(key, value(type, "metadata '" + key + "'", true));
            }
            long alignment = 32;
            Object a = meta.get("general.alignment");
            if (a != null) {
                if (!(a instanceof Long l) || l <= 0 || l > 1 << 20 || Long.bitCount(l) != 1)
                    throw bad("general.alignment must be a power of two integer (at most 1 MiB), got " + a);
                alignment = (Long) a;
            }
            List<long[]> rawOffsets = new ArrayList<>();
            Map<String, TensorInfo> infos = new LinkedHashMap<>();
            List<Object[]> pending = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                String name = string("tensor " + i + " name");
                if (infos.containsKey(name) || pending.stream().anyMatch(p -> p[0].equals(name))) throw bad("tensor '" + name + "' appears twice");
                long nDims = u32("the dimension count of tensor '" + name + "'");
                if (nDims < 1 || nDims > MAX_DIMS) throw bad("tensor '" + name + "' has " + nDims + " dimensions (1 to " + MAX_DIMS + " allowed)");
                long[] dims = new long[(int) nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    dims[d] = i64("dimension " + d + " of tensor '" + name + "'");
                    if (dims[d] < 1 || dims[d] > Integer.MAX_VALUE) throw bad("tensor '" + name + "' dimension " + d + " is " + Long.toUnsignedString(dims[d]) + " (1 to 2^31-1 allowed)");
                    elements = Math.multiplyHigh(elements, dims[d]) != 0 || elements * dims[d] > (1L << 50) ? -1 : elements * dims[d];
                    if (elements < 0) throw bad("tensor '" + name + "' has more than 2^50 elements");
                }
                long typeId = u32("the type of tensor '" + name + "'");
                GgufType type = GgufType.byId(typeId);
                if (type == null) throw bad("tensor '" + name + "' has ggml type " + typeId + ", which Tern does not read (it reads f32, f16, bf16, q8_0, tq1_0, tq2_0)");
                if (!type.fitsRow(dims[0])) throw bad("tensor '" + name + "' rows of " + dims[0] + " weights are not whole " + type.label() + " blocks of " + type.blockWeights);
                long offset = i64("the offset of tensor '" + name + "'");
                if (offset < 0 || offset % alignment != 0) throw bad("tensor '" + name + "' offset " + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
                pending.add(new Object[] {name, dims, type, offset, type.bytes(elements)});
            }
            long dataStart = (pos + alignment - 1) / alignment * alignment;
            if (!pending.isEmpty() && dataStart > size) throw bad("truncated: the tensor data would start at " + dataStart + ", past the end (" + size + " bytes)");
            for (Object[] p : pending) {
                String name = (String) p[0];
                long offset = (Long) p[3], bytes = (Long) p[4];
                if (offset > size - dataStart || bytes > size - dataStart - offset)
                    throw bad("truncated: tensor '" + name + "' needs bytes " + (dataStart + offset) + ".." + (dataStart + offset + bytes)
                            + ", the file has " + size);
                infos.put(name, new TensorInfo(name, (long[]) p[1], (GgufType) p[2], dataStart + offset, bytes));
                rawOffsets.add(new long[] {offset, bytes});
            }
            List<TensorInfo> sorted = new ArrayList<>(infos.values());
            sorted.sort(Comparator.comparingLong(TensorInfo::offset));
            for (int i = 1; i < sorted.size(); i++) {
                TensorInfo prev = sorted.get(i - 1), cur = sorted.get(i);
                if (prev.offset() + prev.bytes() > cur.offset()) throw bad("tensors '" + prev.name() + "' and '" + cur.name() + "' overlap");
            }
            return new GgufFile(file, arena, map, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(infos));
        }

        private Object value(GgufValueType type, String what, boolean arrayAllowed) {
            return switch (type) {
                case UINT8 -> (long) u8(what);
                case INT8 -> (long) (byte) u8(what);
                case UINT16 -> { need(2, what); long v = map.get(I16, pos) & 0xFFFF; pos += 2; yield v; }
                case INT16 -> { need(2, what); long v = map.get(I16, pos); pos += 2; yield v; }
                case UINT32 -> u32(what);
                case INT32 -> (long) i32(what);
                case FLOAT32 -> (double) Float.intBitsToFloat(i32(what));
                case BOOL -> {
                    int b = u8(what);
                    if (b > 1) throw bad(what + " is a bool holding " + b + " (0 or 1 allowed)");
                    yield b == 1;
                }
                case STRING -> string(what);
                case UINT64 -> {
                    long v = i64(what);
                    if (v < 0) throw bad(what + " is " + Long.toUnsignedString(v) + ", beyond what Tern handles (2^63-1)");
                    yield v;
                }
                case INT64 -> i64(what);
                case FLOAT64 -> Double.longBitsToDouble(i64(what));
                case ARRAY -> {
                    if (!arrayAllowed) throw bad(what + " is an array of arrays, which Tern does not read");
                    long elementId = u32(what + " element type");
                    GgufValueType element = GgufValueType.byId(elementId);
                    if (element == null) throw bad(what + " has unknown element type " + elementId);
                    long n = count(what + " length", element.minBytes);
                    List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 16));
                    for (long i = 0; i < n; i++) list.add(value(element, what + " element " + i, false));
                    yield Collections.unmodifiableList(list);
                }
            };
        }
    }

    @Override public String toString() { return file + " (" + tensors.size() + " tensors, " + metadata.size() + " metadata keys)"; }

    static String dims(long[] d) { return Arrays.toString(d); }
}
