package tern.cuda;

import tern.runtime.DType;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * Launcher of packed_gemv.cu: y[m, rows] = x[m, cols]·(γT)ᵀ (+ y) for m = 1..4 activation rows on the CUDA
 * backend's packed ternary weights, split along K (see the .cu file for the work split and accuracy). It
 * owns the split's partial sums and the per-tile-group tickets; {@link #reserve} grows them, so a caller
 * that captures launches into a CUDA graph reserves for its shapes first (no allocation inside a capture).
 * sm_80 or later ({@link #supported}).
 */
final class PackedGemv implements AutoCloseable {
    static final int MAX_ROWS = 4;
    private static final int WARPS = 8;          // PG_WARPS: row tiles per block
    private static final int MAX_BLOCKS_PER_SLICE = 64, MIN_BLOCKS_PER_SLICE = 8;

    private final CudaContext context;
    private final Kernels kernels;
    private final int multiprocessors;
    private DevicePointer partial, counters;
    private long partialBytes, counterCount;
    private int forcedBlocksPerSlice;            // 0: the heuristic of blocksPerSlice (benchmarks sweep it)

    PackedGemv(CudaBackend backend) {
        this.context = backend.context();
        this.kernels = backend.kernels();
        this.multiprocessors = backend.multiprocessors();
        if (!supported(backend)) throw new IllegalStateException("the split-K packed GEMV needs sm_80 or later, the device is sm_" + backend.arch());
    }

    static boolean supported(CudaBackend backend) {
        return backend.kernels().has("packed_gemv");
    }

    /** 32-column blocks per K slice: the largest (≤ 64) that still gives about 4 blocks per SM, at least 8. */
    int blocksPerSlice(int rows, int cols) {
        if (forcedBlocksPerSlice > 0) return forcedBlocksPerSlice;
        int kc = TernaryLayout.kcCount(cols), groups = ceilDiv(ceilDiv(rows, 16), WARPS);
        int kb = MAX_BLOCKS_PER_SLICE;
        while (kb > MIN_BLOCKS_PER_SLICE && (long) groups * ceilDiv(kc, kb) < 4L * multiprocessors) kb /= 2;
        while (kb > MIN_BLOCKS_PER_SLICE && kb / 2 >= kc) kb /= 2;       // one slice: no wider than the matrix needs
        return kb;
    }

    /** Benchmarks: every product takes {@code kb} column blocks per K slice (8, 16, 32 or 64; 0 restores the heuristic). */
    void forceBlocksPerSlice(int kb) {
        if (kb != 0 && (kb < MIN_BLOCKS_PER_SLICE || kb > MAX_BLOCKS_PER_SLICE || Integer.bitCount(kb) != 1))
            throw new IllegalArgumentException("blocks per K slice must be 8, 16, 32 or 64, got " + kb);
        forcedBlocksPerSlice = kb;
    }

    /** Grows the partial sums and tickets for products of this shape (call outside a capture). */
    void reserve(int rows, int cols, int m) {
        int kb = blocksPerSlice(rows, cols);
        long slices = ceilDiv(TernaryLayout.kcCount(cols), kb);
        long bytes = 4L * slices * m * TernaryLayout.paddedRows(rows);
        long groups = ceilDiv(ceilDiv(rows, 16), WARPS);
        if (bytes > partialBytes) {
            if (partial != null) {
                context.synchronize();
                context.free(partial);
            }
            partial = context.allocate(bytes);
            partialBytes = bytes;
        }
        if (groups > counterCount) {
            if (counters != null) {
                context.synchronize();
                context.free(counters);
            }
            counters = context.allocate(4 * groups);
            context.zero(counters, 4 * groups);       // the kernel leaves them zero again
            counterCount = groups;
        }
    }

    /** y ← x·(γT)ᵀ (+ y when accumulating); x [m, cols] and y [m, rows] f32 on the device, m ≤ 4. */
    void multiply(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        if (x.dtype() != DType.F32 || y.dtype() != DType.F32 || x.cols() != w.cols() || y.cols() != w.rows() || y.rows() != x.rows())
            throw new IllegalArgumentException("packed GEMV: x " + x.describe() + " · W[" + w.rows() + ", " + w.cols() + "]ᵀ → y " + y.describe());
        multiply(CudaBackend.addressOf(x), x.rows(), w, CudaBackend.addressOf(y), accumulate);
    }

    void multiply(long x, int m, TernaryWeights w, long y, boolean accumulate) {
        if (m < 1 || m > MAX_ROWS) throw new IllegalArgumentException("packed GEMV takes 1.." + MAX_ROWS + " rows, got " + m);
        int rows = w.rows(), cols = w.cols();
        if (rows == 0 || cols == 0) throw new IllegalArgumentException("packed GEMV of an empty matrix [" + rows + ", " + cols + "]");
        reserve(rows, cols, m);
        int kb = blocksPerSlice(rows, cols);
        int kc = TernaryLayout.kcCount(cols);
        int slices = ceilDiv(kc, kb), groups = ceilDiv(ceilDiv(rows, 16), WARPS);
        int shared = 2 * m * (32 * kb + 8) * 2;
        long[] a = CudaBackend.packedAddresses(w);
        kernels.launch("packed_gemv", "packed_gemv" + m, groups, slices, 1, WARPS * 32, shared,
                KernelArgs.of().ptr(a[0]).i32(rows).i32(cols).i32(kc).ptr(a[1]).i32(w.shards())
                        .i32(w.axis() == tern.runtime.ShardAxis.ROWS ? 0 : 1).ptr(x).ptr(y).i32(accumulate).i32(kb)
                        .ptr(partial.address()).ptr(counters.address()));
    }

    private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }

    @Override
    public void close() {
        if (partial != null) context.free(partial);
        if (counters != null) context.free(counters);
        partial = counters = null;
        partialBytes = counterCount = 0;
    }
}
