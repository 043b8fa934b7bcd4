package tern.cuda;

import static tern.cuda.CudaBackend.ceilDiv;

/**
 * The tables of the multi-tensor kernels (multi_tensor.h; elementwise.cu, adamw.cu, quantizers.cu): per-tensor
 * columns of pointers and sizes, followed by the first-block index of each tensor, copied to scratch.
 */
final class MultiTensor {
    /** Elements per block of the multi-tensor kernels (CHUNK in multi_tensor.h). */
    static final int CHUNK = 4096;

    private MultiTensor() {}

    /**
     * Copies {@code table} (whose last t entries are the tensors' sizes) to scratch at {@code offset}, followed
     * by the t + 1 first-block indices the multi-tensor kernels search; returns the table's device address.
     */
    static long uploadChunkTable(Scratch scratch, long[] table, int t, long offset) {
        long[] all = java.util.Arrays.copyOf(table, table.length + t + 1);
        long blocks = 0;
        for (int i = 0; i < t; i++) {
            all[table.length + i] = blocks;
            blocks += ceilDiv(table[table.length - t + i], CHUNK);
        }
        all[table.length + t] = blocks;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException("multi-tensor launch of " + blocks + " blocks");
        long base = scratch.reserve(offset + 8L * all.length) + offset;
        scratch.toDevice(all, offset, 8L * all.length);
        return base;
    }

    static int chunkBlocks(long[] table, int t) {
        long blocks = 0;
        for (int i = 0; i < t; i++) blocks += ceilDiv(table[table.length - t + i], CHUNK);
        return (int) blocks;
    }
}
