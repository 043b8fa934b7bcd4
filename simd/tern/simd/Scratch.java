package tern.simd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Small off-heap work buffers for kernels (a row of scores, a partial gradient). Off-heap because the
 * Vector API reads heap segments only when they wrap byte[], whose alignment does not suit float access;
 * automatic arenas, because these live for one call and the GC frees them without a close handshake.
 */
final class Scratch {
    private Scratch() {}

    /** A zeroed buffer of n floats, 64-byte aligned, usable from any thread. */
    static MemorySegment floats(long n) {
        return Arena.ofAuto().allocate(Math.max(1, n) * Float.BYTES, 64);
    }
}
