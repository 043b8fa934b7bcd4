package tern.simd;

import java.lang.foreign.MemorySegment;

/** Token embedding lookup and its gradient (a scatter-add into the table). */
final class Embedding {
    /** A row copy is memory bound: only fork when each thread copies at least this many floats. */
    private static final int MIN_CHUNK_ELEMENTS = 1 << 15;

    private final FloatKernels k;

    Embedding(FloatKernels kernels) { this.k = kernels; }

    /** Ids are checked before any row is written, so a bad batch leaves out untouched. */
    static void checkIds(String op, int[] ids, int vocab) {
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] >= vocab)
                throw new IllegalArgumentException(op + ": token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary of size " + vocab);
    }

    void forward(MemorySegment table, int[] ids, int dim, MemorySegment out) {
        long rowBytes = (long) dim * Float.BYTES;
        Parallel.range(ids.length, Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, dim)), (from, to) -> {
            for (int i = from; i < to; i++)
                MemorySegment.copy(table, ids[i] * rowBytes, out, i * rowBytes, rowBytes);
        });
    }

    /**
     * dtable[ids[i]] += dout[i], in position order. Serial: a token repeated in the batch adds into the
     * same row, and this is a few hundred row additions per step, far below the matmuls.
     */
    void backward(MemorySegment dout, int[] ids, int dim, MemorySegment dtable) {
        for (int i = 0; i < ids.length; i++) k.axpy(1f, dout, (long) i * dim, dtable, (long) ids[i] * dim, dim);
    }

}
