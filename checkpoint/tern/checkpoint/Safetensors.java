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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Tensor;

/**
 * Hugging Face safetensors files: writing (f32 as is, or converted to f16/bf16 on the way out) and
 * opening ({@link SafetensorsFile}). Layout, exactly as the format defines it: an 8-byte little-endian
 * header length N, N bytes of JSON (padded with spaces so the data starts 8-byte aligned), then every
 * tensor's little-endian bytes back to back in header order. The metadata always carries
 * {@code "format": "pt"} (transformers refuses files without it) and a CRC32 per tensor.
 */
public final class Safetensors {
    private static final int CHUNK_ELEMENTS = 1 << 16;

    private Safetensors() {}

    /** Opens, validates and checksums a file; see {@link SafetensorsFile}. */
    public static SafetensorsFile open(Path file) { return SafetensorsFile.open(file); }

    /** Writes host tensors, floats kept f32, atomically (tmp file, fsync, rename). */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        write(file, tensors, metadata, DType.F32);
    }

    /**
     * Writes host tensors atomically; f32 tensors are stored as {@code floatStorage} (F32, F16 or BF16,
     * rounded to nearest even); tensors of other types are stored as they are.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, DType floatStorage) {
        AtomicFiles.writeFile(file, content(tensors, metadata, floatStorage));
    }

    /** The file's bytes as a {@link AtomicFiles.Content}, for a file inside a checkpoint directory. */
    public static AtomicFiles.Content content(Map<String, Tensor> tensors, Map<String, String> metadata, DType floatStorage) {
        Map<String, Tensor> copy = new LinkedHashMap<>(tensors);
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        return ch -> write(ch, copy, meta, floatStorage);
    }

    /** Streams a whole safetensors file to {@code out}. */
    public static void write(WritableByteChannel out, Map<String, Tensor> tensors, Map<String, String> metadata,
                             DType floatStorage) throws IOException {
        if (floatStorage != DType.F32 && floatStorage != DType.F16 && floatStorage != DType.BF16)
            throw new IllegalArgumentException("floats can be stored as F32, F16 or BF16, not " + floatStorage);
        List<Stored> stored = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet())
            stored.add(new Stored(e.getKey(), e.getValue(), storedType(e.getKey(), e.getValue(), floatStorage)));
        byte[] header = header(stored, metadata);
        ByteBuffer size = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
        writeFully(out, size);
        writeFully(out, ByteBuffer.wrap(header));
        for (Stored s : stored) s.stream(out, null);
    }

    private static SafetensorsDType storedType(String name, Tensor t, DType floatStorage) {
        if (name.isEmpty() || name.equals(SafetensorsHeader.METADATA))
            throw new IllegalArgumentException("'" + name + "' cannot name a tensor in a safetensors file");
        if (t.device() != Device.CPU)
            throw new IllegalArgumentException("tensor '" + name + "' is on " + t.device() + ": copy it to the host first");
        if (t.dtype() == DType.F32) return SafetensorsDType.of(floatStorage);
        try {
            return SafetensorsDType.of(t.dtype());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor '" + name + "': " + e.getMessage());
        }
    }

    private static byte[] header(List<Stored> stored, Map<String, String> metadata) {
        Map<String, Object> root = new LinkedHashMap<>();
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.putAll(metadata);
        for (Stored s : stored) meta.put(Checksums.key(s.name), Checksums.hex(s.crc32()));
        root.put(SafetensorsHeader.METADATA, meta);
        long offset = 0;
        for (Stored s : stored) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", s.type.name());
            List<Object> shape = new ArrayList<>();
            for (int d : s.tensor.shape()) shape.add((long) d);
            entry.put("shape", shape);
            entry.put("data_offsets", List.of(offset, offset + s.byteSize()));
            root.put(s.name, entry);
            offset += s.byteSize();
        }
        byte[] json = Json.write(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;                // data starts 8-byte aligned: views need no copy
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) out[i] = ' ';
        return out;
    }

    static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }

    /** One tensor on its way out: its bytes in the stored type, streamed to a channel and/or a CRC. */
    private record Stored(String name, Tensor tensor, SafetensorsDType type) {
        long byteSize() { return tensor.size() * type.bytes; }

        long crc32() {
            CRC32 crc = new CRC32();
            try {
                stream(null, crc);
            } catch (IOException e) {
                throw new AssertionError("no channel, no I/O", e);
            }
            return crc.getValue();
        }

        void stream(WritableByteChannel out, CRC32 crc) throws IOException {
            MemorySegment src = tensor.segment();
            if (type.tern == tensor.dtype()) {                   // stored as held: no conversion
                for (long at = 0; at < src.byteSize(); at += (long) CHUNK_ELEMENTS * 4) {
                    ByteBuffer b = src.asSlice(at, Math.min((long) CHUNK_ELEMENTS * 4, src.byteSize() - at)).asByteBuffer();
                    if (crc != null) crc.update(b.duplicate());
                    if (out != null) writeFully(out, b);
                }
                return;
            }
            boolean bf16 = type == SafetensorsDType.BF16;
            ByteBuffer buf = ByteBuffer.allocate(CHUNK_ELEMENTS * 2).order(ByteOrder.LITTLE_ENDIAN);
            long n = tensor.size();
            for (long at = 0; at < n; at += CHUNK_ELEMENTS) {
                int len = (int) Math.min(CHUNK_ELEMENTS, n - at);
                buf.clear();
                for (int i = 0; i < len; i++) {
                    float f = src.getAtIndex(ValueLayout.JAVA_FLOAT, at + i);
                    buf.putShort(bf16 ? HalfFloats.toBF16(f) : HalfFloats.toF16(f));
                }
                buf.flip();
                if (crc != null) crc.update(buf.duplicate());
                if (out != null) writeFully(out, buf);
            }
        }
    }

}
