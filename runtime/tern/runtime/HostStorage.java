package tern.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Off-heap host memory. Owned storages come from {@link HostMemoryPool} (shared arenas, since kernels read
 * them from many threads; recycled, because closing a shared arena costs tens of microseconds); borrowed ones
 * wrap a segment whose lifetime belongs to someone else (a memory-mapped file, a workspace).
 */
public final class HostStorage implements Storage {
    /** Alignment of every owned allocation: one AVX-512 register / one cache line. */
    public static final long ALIGN = 64;

    private final HostMemoryPool.Block block;   // null when borrowed
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();

    private HostStorage(HostMemoryPool.Block block, MemorySegment segment) {
        this.block = block;
        this.segment = segment;
    }

    /** Zeroed, 64-byte aligned, given back by {@link #close()}. No 2 GiB limit: sizes are longs. */
    public static HostStorage allocate(long bytes) {
        HostMemoryPool.Block b = HostMemoryPool.take(Math.max(bytes, 1));
        return new HostStorage(b, b.segment());
    }

    /** Wraps memory owned elsewhere; {@link #close()} does nothing. */
    public static HostStorage borrow(MemorySegment segment) {
        return new HostStorage(null, segment);
    }

    @Override public Device device() { return Device.CPU; }
    @Override public long byteSize() { return segment.byteSize(); }

    @Override
    public MemorySegment segment() {
        if (closed.get()) throw new IllegalStateException("tensor storage used after close");
        return segment;
    }

    /** Gives the memory back (once; later calls do nothing). */
    @Override
    public void close() {
        if (block != null && closed.compareAndSet(false, true)) HostMemoryPool.give(block);
    }

    /** Creates a block's arena: kept here so that only this class and the pool create host memory. */
    static Arena newArena() {
        return Arena.ofShared();
    }
}
