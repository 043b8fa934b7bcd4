package tern.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Writes a GGUF v3 file (the format llama.cpp reads): the header, key/value metadata in the order given,
 * the tensor infos, then each tensor's bytes at an offset aligned to {@value #ALIGNMENT}. Tensor bytes are
 * produced one tensor at a time when the file is written, so a large model is never encoded whole in
 * memory. The file appears atomically ({@link AtomicFiles}).
 */
public final class GgufWriter {
    public static final int MAGIC = 0x46554747;   // "GGUF" little-endian
    public static final int VERSION = 3;
    public static final int ALIGNMENT = 32;        // GGUF's default; written as general.alignment too

    /** A tensor to write: dims innermost first (GGUF's ne order), its type and a producer of exactly its bytes. */
    private record Entry(String name, long[] dims, GgufType type, long bytes, Function<Arena, MemorySegment> data) {}

    private final Map<String, Object[]> metadata = new LinkedHashMap<>();   // key → {type, value}
    private final List<Entry> tensors = new ArrayList<>();

    public GgufWriter() {
        putU32("general.alignment", ALIGNMENT);
    }

    public GgufWriter putString(String key, String v) { return put(key, GgufValueType.STRING, v); }

    public GgufWriter putU32(String key, long v) {
        if (v < 0 || v > 0xFFFFFFFFL) throw new IllegalArgumentException(key + ": " + v + " does not fit a uint32");
        return put(key, GgufValueType.UINT32, v);
    }

    public GgufWriter putF32(String key, float v) { return put(key, GgufValueType.FLOAT32, v); }

    public GgufWriter putBool(String key, boolean v) { return put(key, GgufValueType.BOOL, v); }

    public GgufWriter putStrings(String key, List<String> v) { return put(key, GgufValueType.ARRAY, new Object[] {GgufValueType.STRING, List.copyOf(v)}); }

    public GgufWriter putI32s(String key, int[] v) { return put(key, GgufValueType.ARRAY, new Object[] {GgufValueType.INT32, v.clone()}); }

    public GgufWriter putF32s(String key, float[] v) { return put(key, GgufValueType.ARRAY, new Object[] {GgufValueType.FLOAT32, v.clone()}); }

    private GgufWriter put(String key, GgufValueType type, Object value) {
        if (metadata.containsKey(key) && !key.equals("general.alignment")) throw new IllegalArgumentException("metadata key '" + key + "' given twice");
        metadata.put(key, new Object[] {type, value});
        return this;
    }

    /**
     * Adds a tensor. {@code dims} are GGUF's (innermost first: a [rows, cols] matrix is {cols, rows});
     * {@code data} must return a segment of exactly the tensor's bytes, allocated in the arena it is given
     * (freed once the tensor is written).
     */
    public GgufWriter addTensor(String name, long[] dims, GgufType type, Function<Arena, MemorySegment> data) {
        if (!type.fitsRow(dims[0]))
            throw new IllegalArgumentException(name + ": rows of " + dims[0] + " weights are not whole " + type.label() + " blocks of " + type.blockWeights);
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        for (Entry e : tensors) if (e.name.equals(name)) throw new IllegalArgumentException("tensor '" + name + "' added twice");
        tensors.add(new Entry(name, dims.clone(), type, type.bytes(n), data));
        return this;
    }

    /** Writes the file atomically. */
    public void write(Path file) {
        AtomicFiles.writeFile(file, this::writeTo);
    }

    private void writeTo(WritableByteChannel out) throws IOException {
        Bytes head = new Bytes();
        head.i32(MAGIC).i32(VERSION).i64(tensors.size()).i64(metadata.size());
        for (Map.Entry<String, Object[]> kv : metadata.entrySet()) {
            head.string(kv.getKey());
            GgufValueType type = (GgufValueType) kv.getValue()[0];
            head.i32(type.id);
            value(head, type, kv.getValue()[1]);
        }
        long offset = 0;
        for (Entry e : tensors) {
            head.string(e.name).i32(e.dims.length);
            for (long d : e.dims) head.i64(d);
            head.i32(e.type.id).i64(offset);
            offset = align(offset + e.bytes);
        }
        long written = head.size();
        head.padTo(align(written));
        written = head.flush(out);
        for (Entry e : tensors) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment data = e.data.apply(arena);
                if (data.byteSize() != e.bytes)
                    throw new IllegalStateException(e.name + ": produced " + data.byteSize() + " bytes, its type and shape need " + e.bytes);
                Safetensors.writeFully(out, data.asByteBuffer());
                written += e.bytes;
            }
            long pad = align(written) - written;
            if (pad > 0) Safetensors.writeFully(out, ByteBuffer.allocate((int) pad));
            written += pad;
        }
    }

    @SuppressWarnings("unchecked")
    private static void value(Bytes b, GgufValueType type, Object v) {
        switch (type) {
            case UINT32 -> b.i32((int) (long) (Long) v);
            case FLOAT32 -> b.f32((Float) v);
            case BOOL -> b.u8((Boolean) v ? 1 : 0);
            case STRING -> b.string((String) v);
            case ARRAY -> {
                Object[] typed = (Object[]) v;
                GgufValueType element = (GgufValueType) typed[0];
                b.i32(element.id);
                switch (element) {
                    case STRING -> {
                        List<String> list = (List<String>) typed[1];
                        b.i64(list.size());
                        for (String s : list) b.string(s);
                    }
                    case INT32 -> {
                        int[] a = (int[]) typed[1];
                        b.i64(a.length);
                        for (int x : a) b.i32(x);
                    }
                    case FLOAT32 -> {
                        float[] a = (float[]) typed[1];
                        b.i64(a.length);
                        for (float x : a) b.f32(x);
                    }
                    default -> throw new IllegalStateException("arrays of " + element);
                }
            }
            default -> throw new IllegalStateException("values of " + type);
        }
    }

    static long align(long n) { return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT; }

    /** A growable little-endian byte buffer for the header. */
    private static final class Bytes {
        private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private void room(int n) {
            if (buf.remaining() >= n) return;
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
            buf.flip();
            bigger.put(buf);
            buf = bigger;
        }

        Bytes u8(int v) { room(1); buf.put((byte) v); return this; }
        Bytes i32(int v) { room(4); buf.putInt(v); return this; }
        Bytes f32(float v) { room(4); buf.putFloat(v); return this; }
        Bytes i64(long v) { room(8); buf.putLong(v); return this; }

        Bytes string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            room(b.length);
            buf.put(b);
            return this;
        }

        long size() { return buf.position(); }

        void padTo(long n) { while (buf.position() < n) u8(0); }

        long flush(WritableByteChannel out) throws IOException {
            buf.flip();
            long n = buf.remaining();
            Safetensors.writeFully(out, buf);
            return n;
        }
    }
}
