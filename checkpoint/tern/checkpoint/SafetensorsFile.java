package tern.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import tern.runtime.DType;
import tern.runtime.HostStorage;
import tern.runtime.Tensor;

/**
 * An open safetensors file, memory-mapped read-only. The header is validated (and the checksums, when the
 * file carries them) before anything is returned. {@link #tensor} gives zero-copy views into the mapping for
 * f32, i32 and i8 data and converted f32 copies for f16 and bf16.
 *
 * <p>Lifetime: views borrow the mapping and are valid only until {@link #close()}; converted copies own
 * their memory. Closing every returned tensor is always right (closing a view does nothing).
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static {
        // Views hand the file's little-endian bytes to kernels that read native order.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN)
            throw new ExceptionInInitializerError("safetensors views need a little-endian host");
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment mapped;
    private final HostStorage storage;
    private final SafetensorsHeader header;

    private SafetensorsFile(Path file, Arena arena, MemorySegment mapped, SafetensorsHeader header) {
        this.file = file;
        this.arena = arena;
        this.mapped = mapped;
        this.storage = HostStorage.borrow(mapped);
        this.header = header;
    }

    /** Maps and validates {@code file}, verifying the checksums it carries. */
    public static SafetensorsFile open(Path file) { return open(file, true); }

    /**
     * Maps and validates {@code file}; with {@code verifyChecksums} false the per-tensor CRC32s are not
     * recomputed (for very large files whose integrity was checked otherwise).
     */
    public static SafetensorsFile open(Path file, boolean verifyChecksums) {
        Arena arena = Arena.ofShared();               // kernels read the views from many threads
        try {
            MemorySegment mapped;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            SafetensorsHeader header = SafetensorsHeader.parse(file, mapped);
            if (verifyChecksums) Checksums.verify(header, mapped);
            return new SafetensorsFile(file, arena, mapped, header);
        } catch (IOException e) {
            arena.close();
            throw new CheckpointException(file, "cannot read", e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path file() { return file; }

    public SafetensorsHeader header() { return header; }

    /** Tensor names in header order. */
    public List<String> names() { return List.copyOf(header.entries().keySet()); }

    public boolean contains(String name) { return header.entries().containsKey(name); }

    /** The string metadata ({@code __metadata__}), checksums included. */
    public Map<String, String> metadata() { return header.metadata(); }

    public SafetensorsHeader.Entry entry(String name) {
        SafetensorsHeader.Entry e = header.entries().get(name);
        if (e == null) throw new CheckpointException(file, "no tensor named '" + name + "' (the file has " + header.entries().size() + ")");
        return e;
    }

    /** The stored bytes of one tensor, as in the file. */
    public MemorySegment bytes(String name) {
        SafetensorsHeader.Entry e = entry(name);
        return mapped.asSlice(header.dataStart() + e.begin(), e.byteSize());
    }

    /**
     * The tensor as Tern holds it: f32, i32 and i8 as zero-copy views when aligned (copies otherwise),
     * f16 and bf16 converted to owned f32 copies. Other element types are an error naming the tensor.
     */
    public Tensor tensor(String name) {
        SafetensorsHeader.Entry e = entry(name);
        long offset = header.dataStart() + e.begin();
        return switch (e.dtype()) {
            case F16, BF16 -> widen(e, offset);
            case F32, I32, I8 -> {
                DType t = e.dtype().tern;
                if (offset % e.dtype().bytes == 0) yield Tensor.wrap(storage, offset, t, false, e.shape());
                Tensor copy = Tensor.zeros(t, e.shape());     // misaligned (foreign writer): a copy keeps kernels safe
                MemorySegment.copy(mapped, offset, copy.segment(), 0, e.byteSize());
                yield copy;
            }
            default -> throw new CheckpointException(file, "tensor '" + name + "': dtype " + e.dtype() + " cannot be loaded into a Tern tensor");
        };
    }

    /** The tensor as f32 whatever its float type, with its shape checked against {@code expectedShape}. */
    public Tensor tensor(String name, int... expectedShape) {
        SafetensorsHeader.Entry e = entry(name);
        if (!Arrays.equals(e.shape(), expectedShape))
            throw new CheckpointException(file, "tensor '" + name + "': shape " + Arrays.toString(e.shape())
                    + ", expected " + Arrays.toString(expectedShape));
        return tensor(name);
    }

    private Tensor widen(SafetensorsHeader.Entry e, long offset) {
        Tensor out = Tensor.zeros(DType.F32, e.shape());
        MemorySegment dst = out.segment();
        long n = e.elements();
        boolean bf16 = e.dtype() == SafetensorsDType.BF16;
        for (long i = 0; i < n; i++) {
            short bits = mapped.get(SHORT_LE, offset + 2 * i);
            dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, bf16 ? HalfFloats.fromBF16(bits) : HalfFloats.fromF16(bits));
        }
        return out;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
