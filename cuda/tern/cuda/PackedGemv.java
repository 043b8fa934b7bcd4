package tern.cuda;

import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * Launcher of packed_gemv.cu: y[m, rows] = x[m, cols]·(γT)ᵀ (+ y) for m = 1..4 activation rows on the CUDA
 * backend's packed ternary weights, split along K (see the .cu file for the work split and accuracy). One
 * launch may multiply up to three matrices of one shape by the same x (q, k, v; gate, up), and may stage x
 * through RMSNorm or SwiGLU on the way in ({@link Input}): the fusions a decode step needs. It owns the
 * split's partial sums and the per-tile-group tickets; {@link #reserve} grows them, so a caller that
 * captures launches into a CUDA graph reserves for its shapes first (no allocation inside a capture).
 * sm_80 or later ({@link #supported}).
 */
final class PackedGemv implements AutoCloseable {
    static final String MODULE = "packed_gemv";
    static final KernelTable KERNELS = KernelTable.of(MODULE);
    static {
        for (int m = 1; m <= 4; m++) KERNELS.kernel("packed_gemv" + m, "p p p p p p p p p i i i i i p p p f i i i p p");
    }
    static final int MAX_ROWS = 4, MAX_MATRICES = 3;
    private static final int WARPS = 8;          // PG_WARPS: row tiles per block
    private static final int MAX_BLOCKS_PER_SLICE = 64, MIN_BLOCKS_PER_SLICE = 8;

    /** How x is staged: as it is, through RMSNorm (gains {@code norm}, ε), or as silu(x)·up. Addresses on the device. */
    record Input(int mode, long up, long norm, float eps) {
        static final Input PLAIN = new Input(0, 0, 0, 0f);

        static Input rmsnorm(Tensor gains, float eps) { return new Input(1, 0, CudaBackend.addressOf(gains), eps); }

        static Input swiglu(Tensor up) { return new Input(2, CudaBackend.addressOf(up), 0, 0f); }
    }

    private final CudaContext context;
    private final Kernels kernels;
    private final int multiprocessors;
    private DevicePointer partial, counters;
    private long partialBytes, counterCount;
    private int forcedBlocksPerSlice;            // 0: the heuristic of blocksPerSlice (benchmarks sweep it)
    private boolean programmatic;                // programmatic dependent launch on our own streams (sm_90)

    PackedGemv(CudaBackend backend) {
        this.context = backend.context();
        this.kernels = backend.kernels();
        this.multiprocessors = backend.multiprocessors();
        if (!supported(backend)) throw new IllegalStateException("the split-K packed GEMV needs sm_80 or later, the device is sm_" + backend.arch());
    }

    static boolean supported(CudaBackend backend) {
        return backend.kernels().has(MODULE);
    }

    /**
     * 32-column blocks per K slice: the largest (≤ 64) that still gives one matrix 4 blocks per SM, at least 8.
     * On the H200 (PackedGemvBench's sweep) this is the fastest of 8..64 at 16384² (64) and 3072² (8); at
     * 9216×3072 and 3072×9216 kb = 16 or 32 measured 10–18 % faster than the 8 it picks there, but only the
     * rule's choices had their results checked on a GPU, so it stays.
     */
    int blocksPerSlice(int rows, int cols) {
        if (forcedBlocksPerSlice > 0) return forcedBlocksPerSlice;
        int kc = TernaryLayout.kcCount(cols), groups = ceilDiv(ceilDiv(rows, 16), WARPS);
        int kb = MAX_BLOCKS_PER_SLICE;
        while (kb > MIN_BLOCKS_PER_SLICE && (long) groups * ceilDiv(kc, kb) < 4L * multiprocessors) kb /= 2;
        while (kb > MIN_BLOCKS_PER_SLICE && kb / 2 >= kc) kb /= 2;       // one slice: no wider than the matrix needs
        return kb;
    }

    /**
     * Launches with programmatic dependent launch (on streams other than the default one, sm_90): each product
     * requests its first weights while the kernel before it finishes. The caller checks it works here.
     */
    void programmatic(boolean on) { this.programmatic = on && DriverLaunch.hasProgrammaticLaunch(); }

    boolean programmatic() { return programmatic; }

    /** Benchmarks: every product takes {@code kb} column blocks per K slice (8, 16, 32 or 64; 0 restores the heuristic). */
    void forceBlocksPerSlice(int kb) {
        if (kb != 0 && (kb < MIN_BLOCKS_PER_SLICE || kb > MAX_BLOCKS_PER_SLICE || Integer.bitCount(kb) != 1))
            throw new IllegalArgumentException("blocks per K slice must be 8, 16, 32 or 64, got " + kb);
        forcedBlocksPerSlice = kb;
    }

    /** Grows the partial sums and tickets for launches of {@code matrices} products of this shape (call outside a capture). */
    void reserve(int rows, int cols, int m, int matrices) {
        int kb = MIN_BLOCKS_PER_SLICE;               // room for the most slices any launch of this shape may take
        long slices = ceilDiv(TernaryLayout.kcCount(cols), kb);
        long bytes = 4L * matrices * slices * m * TernaryLayout.paddedRows(rows);
        long tickets = (long) matrices * ceilDiv(ceilDiv(rows, 16), WARPS);
        if (bytes > partialBytes) {
            if (partial != null) {
                context.synchronize();
                context.free(partial);
            }
            partial = context.allocate(bytes);
            partialBytes = bytes;
        }
        if (tickets > counterCount) {
            if (counters != null) {
                context.synchronize();
                context.free(counters);
            }
            counters = context.allocate(4 * tickets);
            context.zero(counters, 4 * tickets);      // the kernel leaves them zero again
            counterCount = tickets;
        }
    }

    /** y ← x·(γT)ᵀ (+ y when accumulating); x [m, cols] and y [m, rows] f32 on the device, m ≤ 4. */
    void multiply(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        multiply(x, new TernaryWeights[] {w}, new Tensor[] {y}, accumulate, Input.PLAIN);
    }

    /** ys[i] ← input(x)·(γT_i)ᵀ (+ ys[i]) for 1..3 matrices of one shape, shards and axis, in one launch. */
    void multiply(Tensor x, TernaryWeights[] ws, Tensor[] ys, boolean accumulate, Input input) {
        int n = ws.length, m = x.rows();
        if (n < 1 || n > MAX_MATRICES || ys.length != n)
            throw new IllegalArgumentException("packed GEMV takes 1.." + MAX_MATRICES + " matrices with one output each, got " + n + " and " + ys.length);
        if (m < 1 || m > MAX_ROWS) throw new IllegalArgumentException("packed GEMV takes 1.." + MAX_ROWS + " rows, got " + x.describe());
        TernaryWeights w = ws[0];
        int rows = w.rows(), cols = w.cols();
        if (rows == 0 || cols == 0) throw new IllegalArgumentException("packed GEMV of an empty matrix [" + rows + ", " + cols + "]");
        if (x.dtype() != DType.F32 || x.cols() != cols)
            throw new IllegalArgumentException("packed GEMV: x " + x.describe() + " does not fit W[" + rows + ", " + cols + "]");
        long[] wa = new long[3], ga = new long[3], ya = new long[3];
        for (int i = 0; i < n; i++) {
            TernaryWeights wi = ws[i];
            if (wi.rows() != rows || wi.cols() != cols || wi.shards() != w.shards() || wi.axis() != w.axis())
                throw new IllegalArgumentException("packed GEMV: matrices of one launch need one shape, shard count and axis; W["
                        + wi.rows() + ", " + wi.cols() + "] differs from W[" + rows + ", " + cols + "]");
            if (ys[i].dtype() != DType.F32 || ys[i].rows() != m || ys[i].cols() != rows)
                throw new IllegalArgumentException("packed GEMV: y " + ys[i].describe() + " is not [" + m + ", " + rows + "] f32");
            long[] a = CudaBackend.packedAddresses(wi);
            wa[i] = a[0];
            ga[i] = a[1];
            ya[i] = CudaBackend.addressOf(ys[i]);
        }
        for (int i = n; i < 3; i++) { wa[i] = wa[0]; ga[i] = ga[0]; ya[i] = ya[0]; }
        reserve(rows, cols, m, n);
        int kb = blocksPerSlice(rows, cols);
        int kc = TernaryLayout.kcCount(cols);
        int slices = ceilDiv(kc, kb), groups = ceilDiv(ceilDiv(rows, 16), WARPS);
        int shared = 2 * m * (32 * kb + 8) * 2;
        kernels.launch(MODULE, "packed_gemv" + m, groups, slices, n, WARPS * 32, shared, programmatic,
                KernelArgs.of().ptr(wa[0]).ptr(wa[1]).ptr(wa[2]).ptr(ga[0]).ptr(ga[1]).ptr(ga[2]).ptr(ya[0]).ptr(ya[1]).ptr(ya[2])
                        .i32(rows).i32(cols).i32(kc).i32(w.shards()).i32(w.axis() == ShardAxis.ROWS ? 0 : 1)
                        .ptr(CudaBackend.addressOf(x)).ptr(input.up()).ptr(input.norm()).f32(input.eps()).i32(input.mode())
                        .i32(accumulate).i32(kb).ptr(partial.address()).ptr(counters.address()));
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
