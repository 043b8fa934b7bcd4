package tern.simd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Off-heap work buffers for kernels (a row of scores, a transposed head, a partial gradient). Off-heap
 * because the Vector API reads heap segments only when they wrap byte[], whose alignment does not suit
 * float access.
 *
 * <p>Per-thread buffers ({@link #reused}) are kept and grown, never freed per call: an op runs every layer of
 * every step, and megabytes of native memory allocated per call would pile up until a GC happened to run
 * (native memory does not press on the heap). The pool's threads are fixed, so the total stays bounded.
 */
final class Scratch {
    /** Independent buffers one op may hold at once. */
    static final int SLOTS = 6;

    private static final ThreadLocal<MemorySegment[]> BUFFERS = ThreadLocal.withInitial(() -> new MemorySegment[SLOTS]);

    private Scratch() {}

    /** A fresh zeroed buffer of n floats, 64-byte aligned, usable from any thread, freed by the GC. */
    static MemorySegment floats(long n) {
        return Arena.ofAuto().allocate(Math.max(1, n) * Float.BYTES, 64);
    }

    /**
     * This thread's buffer number {@code slot}, at least n floats, with stale contents: callers overwrite
     * what they read. Valid until the same thread asks for the same slot again.
     */
    static MemorySegment reused(int slot, long n) {
        MemorySegment[] mine = BUFFERS.get();
        long bytes = Math.max(1, n) * Float.BYTES;
        if (mine[slot] == null || mine[slot].byteSize() < bytes)
            mine[slot] = Arena.ofAuto().allocate(Math.max(bytes, mine[slot] == null ? 0 : 2 * mine[slot].byteSize()), 64);
        return mine[slot].asSlice(0, bytes);
    }
}
