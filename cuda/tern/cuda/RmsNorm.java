package tern.cuda;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.ceilDiv;
import static tern.cuda.CudaBackend.suffix;

/**
 * Launches rmsnorm.cu: the norm (alone, or fused with the residual add before it) and its backward (dx, then
 * dweight from per-band partial sums added in a fixed order). Tensors were checked by {@link CudaBackend}.
 */
final class RmsNorm {
    static final String MODULE = "rmsnorm";
    static final KernelTable KERNELS = KernelTable.of(MODULE).typed("rmsnorm_fwd", "p p p f i i p p p")
            .typed("rmsnorm_bwd_dx", "p p p p p i i p").typed("rmsnorm_bwd_dw", "p p p i i i p").kernel("rmsnorm_bwd_dw_sum", "p i i p");
    private static final int THREADS = 256;
    /** rmsnorm_fwd and rmsnorm_bwd_dx: one warp per row, so a block of THREADS takes this many rows. */
    private static final int ROWS_PER_BLOCK = THREADS / 32;

    private final Kernels kernels;
    private final CudaContext context;
    private final Scratch scratch;

    RmsNorm(Kernels kernels, CudaContext context, Scratch scratch) {
        this.kernels = kernels;
        this.context = context;
        this.scratch = scratch;
    }

    /** y, sum null: the plain norm of x; else of the sum x + y, written to sum. */
    void forward(Tensor x, Tensor y, Tensor weight, float eps, Tensor sum, Tensor out, Tensor rstd) {
        int rows = x.rows(), dim = x.cols();
        kernels.launch(MODULE, "rmsnorm_fwd" + suffix(x), rowBlocks(rows), THREADS,
                KernelArgs.of().ptr(addressOf(x)).ptr(y == null ? 0 : addressOf(y)).ptr(addressOf(weight)).f32(eps).i32(rows).i32(dim)
                        .ptr(sum == null ? 0 : addressOf(sum)).ptr(addressOf(out)).ptr(addressOf(rstd)));
    }

    /** addend null: dx ← ∂L/∂x; else dx ← ∂L/∂x + addend. */
    void backward(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor addend, Tensor dx, Tensor dweight) {
        int rows = x.rows(), dim = x.cols();
        kernels.launch(MODULE, "rmsnorm_bwd_dx" + suffix(x), rowBlocks(rows), THREADS,
                KernelArgs.of().ptr(addressOf(dout)).ptr(addressOf(x)).ptr(addressOf(weight)).ptr(addressOf(rstd))
                        .ptr(addend == null ? 0 : addressOf(addend)).i32(rows).i32(dim).ptr(addressOf(dx)));
        int colBlocks = ceilDiv(dim, THREADS);
        int bands = Math.max(1, Math.min(rows, context.multiprocessors * 4 / colBlocks));
        int rowsPerBand = ceilDiv(rows, bands);
        int bandCount = ceilDiv(rows, rowsPerBand);
        long partial = scratch.reserve(4L * bandCount * dim);
        kernels.launch(MODULE, "rmsnorm_bwd_dw" + suffix(x), colBlocks, bandCount, 1, THREADS, 0,
                KernelArgs.of().ptr(addressOf(dout)).ptr(addressOf(x)).ptr(addressOf(rstd)).i32(rows).i32(dim).i32(rowsPerBand)
                        .ptr(partial));
        kernels.launch(MODULE, "rmsnorm_bwd_dw_sum", colBlocks, THREADS,
                KernelArgs.of().ptr(partial).i32(bandCount).i32(dim).ptr(addressOf(dweight)));
    }

    /** Enough blocks of ROWS_PER_BLOCK rows to fill the device (8 blocks of 256 threads per multiprocessor); the kernels loop past them. */
    private int rowBlocks(int rows) {
        return Math.max(1, Math.min(ceilDiv(rows, ROWS_PER_BLOCK), context.multiprocessors * 8));
    }
}
