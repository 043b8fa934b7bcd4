package tern.cuda;

import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.axisCode;
import static tern.cuda.CudaBackend.ceilDiv;
import static tern.cuda.CudaBackend.packedAddress;
import static tern.cuda.CudaBackend.scalesAddress;

/**
 * Launches ternary_mma.cu (sm_80+), the tensor-core matrix-vector products on packed ternary weights for a
 * few f32 activation rows (decode): one or two rows on the integer kernel (x as 8-bit fixed-point digits,
 * exact int32 sums), up to four on the f16 one. Each {@code try} launches and returns true only where its
 * kernel serves the shape and its shared memory fits the device. Shapes were checked by {@link CudaBackend}.
 */
final class TernaryGemv {
    static final String MODULE = "ternary_mma";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("tern_gemv_mma", "p i i i p i i p i p i")
            .kernel("tern_gemv_imma1", "p i i i p i i p p i").kernel("tern_gemv_imma2", "p i i i p i i p p i");
    private static final int THREADS = 256;

    /** Activation rows up to which the f16 tensor-core matrix-vector kernel serves. */
    static final int MAX_ROWS = 4;
    /**
     * Activation rows up to which the integer variant serves (x as four 8-bit digits: four B columns of
     * the MMA per row, eight in all), and the columns up to which its int32 sums cannot overflow (per
     * accumulator and column, |Σ| ≤ (cols / 2)·2·64·128 < 2³¹ needs cols < 2¹⁸; half that kept as margin).
     */
    static final int INT8_MAX_ROWS = 2;
    static final int INT8_MAX_COLS = 1 << 17;

    private final Kernels kernels;
    private final CudaContext context;

    TernaryGemv(Kernels kernels, CudaContext context) {
        this.kernels = kernels;
        this.context = context;
    }

    /** The integer kernel, where it serves: m ≤ {@link #INT8_MAX_ROWS} rows, cols ≤ {@link #INT8_MAX_COLS}. */
    boolean tryInteger(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        int m = x.rows();
        int kc = TernaryLayout.kcCount(w.cols());
        if (m <= INT8_MAX_ROWS && w.cols() <= INT8_MAX_COLS && kernels.has(MODULE)) {
            // x as four 8-bit digits per element, in 32-byte chunks per 32-column block and digit column,
            // over every block the kernel's batches touch (8 warps × 8 blocks per batch; ternary_mma.cu).
            int shared = ceilDiv(kc, 64) * 64 * 128 * m;
            if (kernels.sharedFits(shared + 9 * 1024)) {
                int rowTiles = ceilDiv(w.rows(), 16);
                // Two 8-warp groups per block, each on its own row tiles; at most 2 blocks per SM (registers).
                int blocksPerSm = Math.max(1, Math.min(2, (220 * 1024) / (shared + 9 * 1024)));
                int grid = Math.min(ceilDiv(rowTiles, 2), context.multiprocessors * blocksPerSm);
                kernels.launch(MODULE, "tern_gemv_imma" + m, grid, 1, 1, 2 * THREADS, shared,
                        KernelArgs.of().ptr(packedAddress(w)).i32(w.rows()).i32(w.cols()).i32(kc).ptr(scalesAddress(w))
                                .i32(w.shards()).i32(axisCode(w.axis())).ptr(addressOf(x)).ptr(addressOf(y)).i32(accumulate));
                return true;
            }
        }
        return false;
    }

    /** The f16 kernel, where it serves: m ≤ {@link #MAX_ROWS} rows and x's staged rows fit in shared memory. */
    boolean tryHalf(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        int m = x.rows();
        int kc = TernaryLayout.kcCount(w.cols());
        // x as f16 hi and lo rows over every column block the kernel's batches touch (8 warps × 16 blocks
        // of 32 columns per batch; ternary_mma.cu), +8 halves of padding per row.
        long stagedCols = (long) ceilDiv(kc, 128) * 128 * 32;
        int shared = (int) Math.min(Integer.MAX_VALUE, 2L * m * (stagedCols + 8) * 2);
        if (m <= MAX_ROWS && kernels.has(MODULE) && kernels.sharedFits(shared + 8 * 1024)) {
            int rowTiles = ceilDiv(w.rows(), 16);
            int blocksPerSm = Math.max(1, Math.min(8, (220 * 1024) / (shared + 5 * 1024)));
            int grid = Math.min(rowTiles, context.multiprocessors * blocksPerSm);
            kernels.launch(MODULE, "tern_gemv_mma", grid, 1, 1, THREADS, shared,
                    KernelArgs.of().ptr(packedAddress(w)).i32(w.rows()).i32(w.cols()).i32(kc).ptr(scalesAddress(w))
                            .i32(w.shards()).i32(axisCode(w.axis())).ptr(addressOf(x)).i32(m).ptr(addressOf(y)).i32(accumulate));
            return true;
        }
        return false;
    }
}
