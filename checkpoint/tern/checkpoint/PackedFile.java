package tern.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * A packed inference file ({@code .tern}), memory-mapped and validated before anything reads it. What the
 * sections mean (ternary codes, scales, float tensors) is the model's business; this class guarantees
 * only that the file is whole and self-consistent.
 *
 * <h2>Format, version 2 (all integers little-endian)</h2>
 * Version 2 changed no byte of the container: it marks files whose ternary sections use the "t9" codes
 * (9 trits per 16 bits) in place of version 1's "t2" nibbles, so an old file is refused at its preamble.
 * <pre>
 * 0   8  magic "TERNPACK"
 * 8   4  version (2)
 * 12  4  reserved, 0
 * 16  8  header offset (64)
 * 24  8  header bytes (UTF-8 JSON)
 * 32  8  data offset (first section; a multiple of 64)
 * 40  8  file bytes (the whole file: a truncated copy is caught here)
 * 48  4  CRC32C of the header bytes
 * 52 12  zeros
 * 64     header JSON: {"format": "tern-packed", "version": 2, "config": {...}, "metadata": {...},
 *                      "tensors": [{"name", "dtype", "shape": [...], "offset", "bytes", "crc32c", ...}, ...]}
 *        then sections, each starting on a 64-byte boundary (zero padding between).
 * </pre>
 * Every section carries its CRC32C (checked at open: a flipped bit anywhere is caught); sections may not
 * overlap or leave the file. Extra per-tensor keys (a ternary matrix's {@code scales} and
 * {@code shard_axis}) travel in {@link Entry#attributes()}.
 */
public final class PackedFile implements AutoCloseable {
    static final byte[] MAGIC = "TERNPACK".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 2;
    static final int PREAMBLE = 64;
    public static final int ALIGN = 64;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One section: its place, size, checksum and the header's other keys for it. */
    public record Entry(String name, String dtype, long[] shape, long offset, long bytes, long crc32c,
                        Map<String, Object> attributes) {
        public long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment mapped;
    private final Map<String, Object> config, metadata;
    private final Map<String, Entry> entries;

    private PackedFile(Path file, Arena arena, MemorySegment mapped, Map<String, Object> config,
                       Map<String, Object> metadata, Map<String, Entry> entries) {
        this.file = file;
        this.arena = arena;
        this.mapped = mapped;
        this.config = config;
        this.metadata = metadata;
        this.entries = entries;
    }

    /** Maps and validates {@code file}; any problem is a {@link CheckpointException} naming the file. */
    public static PackedFile open(Path file) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < PREAMBLE)
                throw new CheckpointException(file, "is " + size + " bytes, shorter than the " + PREAMBLE + "-byte preamble: not a packed Tern model or truncated");
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            PackedFile f = validate(file, arena, m, size);
            return f;
        } catch (IOException e) {
            arena.close();
            throw new CheckpointException(file, "cannot be read", e);
        } catch (RuntimeException e) {
            arena.close();
            if (e instanceof CheckpointException) throw e;
            throw new CheckpointException(file, "is not a valid packed model", e);
        }
    }

    private static PackedFile validate(Path file, Arena arena, MemorySegment m, long size) {
        byte[] magic = m.asSlice(0, 8).toArray(ValueLayout.JAVA_BYTE);
        if (!java.util.Arrays.equals(magic, MAGIC))
            throw new CheckpointException(file, "does not start with the magic TERNPACK: not a packed Tern model (make one with tern pack)");
        int version = m.get(U32, 8);
        if (version != VERSION)
            throw new CheckpointException(file, "format version " + version + ", this Tern reads version " + VERSION);
        for (long at : new long[] {12, 52, 56, 60})
            if (m.get(U32, at) != 0) throw new CheckpointException(file, "reserved preamble bytes at " + at + " are not zero: the preamble is corrupt");
        long headerOffset = m.get(U64, 16), headerBytes = m.get(U64, 24), dataOffset = m.get(U64, 32), fileBytes = m.get(U64, 40);
        if (fileBytes != size)
            throw new CheckpointException(file, "is " + size + " bytes but its preamble says " + fileBytes
                    + (size < fileBytes ? ": the file is truncated" : ": the file has trailing bytes"));
        if (headerOffset != PREAMBLE || headerBytes <= 0 || headerBytes > Integer.MAX_VALUE - 8
                || dataOffset < headerOffset + headerBytes || dataOffset % ALIGN != 0 || dataOffset > size)
            throw new CheckpointException(file, "preamble is inconsistent (header at " + headerOffset + ", " + headerBytes
                    + " bytes, data at " + dataOffset + ", file " + size + " bytes)");
        MemorySegment headerSeg = m.asSlice(headerOffset, headerBytes);
        int expectedCrc = m.get(U32, 48);
        int crc = (int) crc32c(headerSeg);
        if (crc != expectedCrc)
            throw new CheckpointException(file, String.format("header checksum mismatch (CRC32C %08x, preamble says %08x): the header is corrupt", crc, expectedCrc));
        Map<String, Object> header;
        try {
            header = Json.parseObject(new String(headerSeg.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
        } catch (Json.JsonException e) {
            throw new CheckpointException(file, "header is not valid JSON: " + e.getMessage());
        }
        if (!"tern-packed".equals(header.get("format")))
            throw new CheckpointException(file, "header format is " + header.get("format") + ", expected tern-packed");
        Map<String, Object> config = object(file, header.get("config"), "config");
        Map<String, Object> metadata = header.get("metadata") == null ? Map.of() : object(file, header.get("metadata"), "metadata");
        if (!(header.get("tensors") instanceof List<?> list))
            throw new CheckpointException(file, "header has no tensors list");
        Map<String, Entry> entries = new LinkedHashMap<>();
        List<long[]> spans = new ArrayList<>();
        for (Object o : list) {
            Entry e = entry(file, object(file, o, "tensor entry"));
            if (entries.put(e.name(), e) != null) throw new CheckpointException(file, "tensor '" + e.name() + "' appears twice");
            if (e.offset() % ALIGN != 0)
                throw new CheckpointException(file, "tensor '" + e.name() + "' starts at " + e.offset() + ", not on a " + ALIGN + "-byte boundary");
            if (e.offset() < dataOffset || e.bytes() < 0 || e.offset() + e.bytes() > size)
                throw new CheckpointException(file, "tensor '" + e.name() + "' (" + e.bytes() + " bytes at " + e.offset()
                        + ") lies outside the data region [" + dataOffset + ", " + size + ")");
            spans.add(new long[] {e.offset(), e.offset() + e.bytes()});
        }
        spans.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < spans.size(); i++)
            if (spans.get(i)[0] < spans.get(i - 1)[1])
                throw new CheckpointException(file, "two tensors overlap at byte " + spans.get(i)[0]);
        // Alignment gaps must be zero: then no byte of the file can change unnoticed.
        long gapStart = headerOffset + headerBytes;
        for (long[] span : spans) {
            requireZeros(file, m, gapStart, span[0]);
            gapStart = Math.max(gapStart, span[1]);
        }
        requireZeros(file, m, gapStart, size);
        for (Entry e : entries.values()) {
            long actual = crc32c(m.asSlice(e.offset(), e.bytes()));
            if (actual != e.crc32c())
                throw new CheckpointException(file, String.format("tensor '%s': checksum mismatch (CRC32C %08x, header says %08x): the data is corrupt",
                        e.name(), actual, e.crc32c()));
        }
        return new PackedFile(file, arena, m, Collections.unmodifiableMap(config), Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(entries));
    }

    private static void requireZeros(Path file, MemorySegment m, long from, long to) {
        for (long at = from; at < to; at++)
            if (m.get(ValueLayout.JAVA_BYTE, at) != 0)
                throw new CheckpointException(file, "padding byte " + at + " is not zero: the file is corrupt");
    }

    private static Entry entry(Path file, Map<String, Object> o) {
        if (!(o.get("name") instanceof String name)) throw new CheckpointException(file, "a tensor entry has no name");
        if (!(o.get("dtype") instanceof String dtype)) throw new CheckpointException(file, "tensor '" + name + "' has no dtype");
        if (!(o.get("shape") instanceof List<?> dims)) throw new CheckpointException(file, "tensor '" + name + "' has no shape");
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(dims.get(i) instanceof Long d) || d < 0) throw new CheckpointException(file, "tensor '" + name + "' has a bad shape " + dims);
            shape[i] = d;
        }
        long offset = number(file, o, "offset", name), bytes = number(file, o, "bytes", name);
        if (!(o.get("crc32c") instanceof String hex) || hex.length() != 8 || !hex.chars().allMatch(java.util.HexFormat::isHexDigit))
            throw new CheckpointException(file, "tensor '" + name + "' has no 8-hex-digit crc32c");
        Map<String, Object> attributes = new LinkedHashMap<>(o);
        for (String k : List.of("name", "dtype", "shape", "offset", "bytes", "crc32c")) attributes.remove(k);
        return new Entry(name, dtype, shape, offset, bytes, Long.parseLong(hex, 16), Collections.unmodifiableMap(attributes));
    }

    private static long number(Path file, Map<String, Object> o, String key, String name) {
        if (!(o.get(key) instanceof Long v) || v < 0) throw new CheckpointException(file, "tensor '" + name + "' has no valid " + key);
        return v;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Path file, Object o, String what) {
        if (!(o instanceof Map)) throw new CheckpointException(file, "header field " + what + " is not a JSON object");
        return (Map<String, Object>) o;
    }

    /** CRC32C of a segment, in chunks so mapped sections over 2 GiB work. */
    static long crc32c(MemorySegment bytes) {
        CRC32C crc = new CRC32C();
        long chunk = 1 << 24;
        for (long at = 0; at < bytes.byteSize(); at += chunk)
            crc.update(bytes.asSlice(at, Math.min(chunk, bytes.byteSize() - at)).asByteBuffer());
        return crc.getValue();
    }

    public Path file() { return file; }

    /** The model configuration object (Hugging Face config.json keys). */
    public Map<String, Object> config() { return config; }

    public Map<String, Object> metadata() { return metadata; }

    public Map<String, Entry> entries() { return entries; }

    /** The entry of {@code name}; a missing one is an error naming the file and tensor. */
    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new CheckpointException(file, "has no tensor '" + name + "'");
        return e;
    }

    /** The mapped bytes of a section (read-only, valid until {@link #close}). */
    public MemorySegment bytes(String name) {
        Entry e = entry(name);
        return mapped.asSlice(e.offset(), e.bytes());
    }

    /** Unmaps the file; segments from {@link #bytes} are invalid afterwards. */
    @Override public void close() { arena.close(); }
}
