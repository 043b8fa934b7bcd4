package tern.checkpoint;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a {@link PackedFile}: sections are added with their bytes (in memory, e.g. just packed), then
 * {@link #write} lays them out on 64-byte boundaries, checksums every one and writes the file atomically
 * (temp file, fsync, rename).
 */
public final class PackedFileWriter {
    private record Section(String name, String dtype, long[] shape, Map<String, Object> attributes, MemorySegment bytes) {}

    private final List<Section> sections = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    /** Adds a section; {@code attributes} (JSON values) are stored beside its name, dtype and shape. */
    public PackedFileWriter add(String name, String dtype, long[] shape, Map<String, Object> attributes, MemorySegment bytes) {
        if (!names.add(name)) throw new IllegalArgumentException("tensor '" + name + "' added twice");
        for (String reserved : List.of("name", "dtype", "shape", "offset", "bytes", "crc32c"))
            if (attributes.containsKey(reserved)) throw new IllegalArgumentException("attribute '" + reserved + "' of '" + name + "' is reserved");
        sections.add(new Section(name, dtype, shape.clone(), Map.copyOf(attributes), bytes));
        return this;
    }

    /** Writes everything added to {@code target} with the config and metadata objects in the header. */
    public void write(Path target, Map<String, Object> config, Map<String, Object> metadata) {
        // The header holds the offsets, and its own length decides them: lay out, measure, repeat until stable.
        long dataOffset = PackedFile.PREAMBLE;
        List<Map<String, Object>> tensors;
        byte[] header;
        long[] crcs = new long[sections.size()];
        for (int i = 0; i < crcs.length; i++) crcs[i] = PackedFile.crc32c(sections.get(i).bytes());
        while (true) {
            tensors = new ArrayList<>();
            long at = dataOffset;
            for (int i = 0; i < sections.size(); i++) {
                Section s = sections.get(i);
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("name", s.name());
                e.put("dtype", s.dtype());
                List<Object> shape = new ArrayList<>();
                for (long d : s.shape()) shape.add(d);
                e.put("shape", shape);
                e.put("offset", at);
                e.put("bytes", s.bytes().byteSize());
                e.put("crc32c", String.format("%08x", crcs[i]));
                e.putAll(s.attributes());
                tensors.add(e);
                at = align(at + s.bytes().byteSize());
            }
            Map<String, Object> root = new LinkedHashMap<>();
            root.put("format", "tern-packed");
            root.put("version", PackedFile.VERSION);
            root.put("config", config);
            root.put("metadata", metadata);
            root.put("tensors", tensors);
            header = Json.write(root).getBytes(StandardCharsets.UTF_8);
            long need = align(PackedFile.PREAMBLE + header.length);
            if (need == dataOffset) break;
            dataOffset = need;
        }
        long fileBytes = dataOffset;
        for (Section s : sections) fileBytes = align(fileBytes) + s.bytes().byteSize();
        final byte[] headerBytes = header;
        final long data = dataOffset, total = fileBytes;
        AtomicFiles.writeFile(target, out -> {
            ByteBuffer pre = ByteBuffer.allocate(PackedFile.PREAMBLE).order(ByteOrder.LITTLE_ENDIAN);
            pre.put(PackedFile.MAGIC).putInt(PackedFile.VERSION).putInt(0).putLong(PackedFile.PREAMBLE)
               .putLong(headerBytes.length).putLong(data).putLong(total)
               .putInt((int) PackedFile.crc32c(MemorySegment.ofArray(headerBytes)));
            pre.position(PackedFile.PREAMBLE).flip();
            long pos = writeAll(out, pre);
            pos += writeAll(out, ByteBuffer.wrap(headerBytes));
            for (Section s : sections) {
                pos += writeAll(out, ByteBuffer.allocate((int) (align(pos) - pos)));
                MemorySegment b = s.bytes();
                for (long at = 0; at < b.byteSize(); at += 1 << 24)
                    pos += writeAll(out, b.asSlice(at, Math.min(1 << 24, b.byteSize() - at)).asByteBuffer());
            }
            if (pos < total) pos += writeAll(out, ByteBuffer.allocate((int) (total - pos)));   // no sections: pad to the data offset
            if (pos != total) throw new IOException("wrote " + pos + " bytes, expected " + total);
        });
    }

    private static long writeAll(WritableByteChannel out, ByteBuffer buf) throws IOException {
        long n = buf.remaining();
        while (buf.hasRemaining()) out.write(buf);
        return n;
    }

    static long align(long at) { return (at + PackedFile.ALIGN - 1) / PackedFile.ALIGN * PackedFile.ALIGN; }

    /** A section holding a UTF-8 text (the tokenizer's JSON). */
    public static MemorySegment utf8(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return MemorySegment.ofArray(b);
    }

    /** The text of a UTF-8 section. */
    public static String text(MemorySegment bytes) {
        return new String(bytes.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }
}
