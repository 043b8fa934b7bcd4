package tern.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Recycles host tensor memory. Every owned tensor lives in its own shared arena (kernels touch it from the
 * pool's threads), and closing a shared arena is slow: the JVM handshakes every thread to prove none is inside
 * the segment, 40–60 µs measured on the 2-core box against 0.3 µs for a confined arena. A training step
 * allocates and frees hundreds of activations of the same sizes every step, so a freed block waits here, by
 * size, for the next request of that size; it is zeroed when taken again.
 *
 * <p>Bounded: at most {@link #IDLE_LIMIT} bytes wait idle (-Dtern.host.pool.mb, default 512), and blocks over
 * {@link #LARGEST_POOLED} bytes (weights, 1 GiB benchmark matrices) are freed at once; what does not fit is
 * freed as before.
 */
final class HostMemoryPool {
    /** A block of memory and the arena that owns it. */
    record Block(Arena arena, MemorySegment segment) {}

    static final long IDLE_LIMIT = Long.getLong("tern.host.pool.mb", 512) << 20;
    static final long LARGEST_POOLED = 64L << 20;

    private static final ConcurrentHashMap<Long, ConcurrentLinkedDeque<Block>> IDLE = new ConcurrentHashMap<>();
    private static final AtomicLong IDLE_BYTES = new AtomicLong();

    private HostMemoryPool() {}

    /** A zeroed, 64-byte aligned block of exactly {@code bytes} bytes. */
    static Block take(long bytes) {
        ConcurrentLinkedDeque<Block> idle = IDLE.get(bytes);
        Block b = idle == null ? null : idle.pollFirst();
        if (b != null) {
            IDLE_BYTES.addAndGet(-bytes);
            b.segment().fill((byte) 0);
            return b;
        }
        Arena arena = HostStorage.newArena();
        return new Block(arena, arena.allocate(bytes, HostStorage.ALIGN));
    }

    /** Takes a block back for reuse, or frees it when it is too large or the idle bytes are at their limit. */
    static void give(Block b) {
        long bytes = b.segment().byteSize();
        if (bytes <= LARGEST_POOLED && IDLE_BYTES.addAndGet(bytes) <= IDLE_LIMIT) {
            IDLE.computeIfAbsent(bytes, k -> new ConcurrentLinkedDeque<>()).addFirst(b);
            return;
        }
        if (bytes <= LARGEST_POOLED) IDLE_BYTES.addAndGet(-bytes);
        b.arena().close();
    }

    /** Frees every idle block (a caller done with a workload of many sizes; tests that need an empty pool). */
    static void trim() {
        for (ConcurrentLinkedDeque<Block> idle : IDLE.values())
            for (Block b; (b = idle.pollFirst()) != null; ) {
                IDLE_BYTES.addAndGet(-b.segment().byteSize());
                b.arena().close();
            }
    }

    /** Bytes waiting for reuse now (for tests and memory reports). */
    static long idleBytes() {
        return IDLE_BYTES.get();
    }
}
