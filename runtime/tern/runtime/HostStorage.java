package tern.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Off-heap host memory. Owned storages hold their own shared arena (kernels read them from many threads);
 * borrowed ones wrap a segment whose lifetime belongs to someone else (a memory-mapped file, a workspace).
 */
public final class HostStorage implements Storage {
    /** Alignment of every owned allocation: one AVX-512 register / one cache line. */
    public static final long ALIGN = 64;

    private final Arena arena;          // null when borrowed
    private final MemorySegment segment;

    private HostStorage(Arena arena, MemorySegment segment) {
        this.arena = arena;
        this.segment = segment;
    }

    /** Zeroed, 64-byte aligned, freed by {@link #close()}. No 2 GiB limit: sizes are longs. */
    public static HostStorage allocate(long bytes) {
        Arena arena = Arena.ofShared();
        return new HostStorage(arena, arena.allocate(Math.max(bytes, 1), ALIGN));
    }

    /** Wraps memory owned elsewhere; {@link #close()} does nothing. */
    public static HostStorage borrow(MemorySegment segment) {
        return new HostStorage(null, segment);
    }

    @Override public Device device() { return Device.CPU; }
    @Override public long byteSize() { return segment.byteSize(); }
    @Override public MemorySegment segment() { return segment; }

    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) arena.close();
    }
}
