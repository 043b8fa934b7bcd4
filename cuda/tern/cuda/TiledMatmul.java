package tern.cuda;

import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.axisCode;
import static tern.cuda.CudaBackend.ceilDiv;
import static tern.cuda.CudaBackend.packedAddress;
import static tern.cuda.CudaBackend.scalesAddress;

/**
 * Launches matmul.cu, the tiled f32 products on CUDA cores (64×64 tiles of 256 threads): the float matmul
 * with any transposes, and both directions of the product with packed ternary weights (y = x·(γT)ᵀ and
 * dx = dy·γT). Shapes were checked by {@link CudaBackend}.
 */
final class TiledMatmul {
    static final String MODULE = "matmul";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("sgemm_tiled", "p p p i i i i i i")
            .kernel("tern_gemm", "p p i p i i i i p i i").kernel("tern_gemm_t", "p p i p i i i i p i i");
    private static final int THREADS = 256;

    private final Kernels kernels;

    TiledMatmul(Kernels kernels) {
        this.kernels = kernels;
    }

    void sgemm(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, int m, int n, int k, boolean accumulate) {
        kernels.launch(MODULE, "sgemm_tiled", ceilDiv(n, 64), ceilDiv(m, 64), 1, THREADS, 0,
                KernelArgs.of().ptr(addressOf(a)).ptr(addressOf(b)).ptr(addressOf(c))
                        .i32(m).i32(n).i32(k).i32(transA).i32(transB).i32(accumulate));
    }

    void ternary(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        int m = x.rows();
        kernels.launch(MODULE, "tern_gemm", ceilDiv(w.rows(), 64), ceilDiv(m, 64), 1, THREADS, 0,
                KernelArgs.of().ptr(addressOf(x)).ptr(packedAddress(w)).i32(TernaryLayout.kcCount(w.cols()))
                        .ptr(scalesAddress(w)).i32(w.shards()).i32(axisCode(w.axis())).i32(w.rows()).i32(w.cols())
                        .ptr(addressOf(y)).i32(m).i32(accumulate));
    }

    void ternaryTransposed(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        int m = dy.rows();
        kernels.launch(MODULE, "tern_gemm_t", ceilDiv(w.cols(), 64), ceilDiv(m, 64), 1, THREADS, 0,
                KernelArgs.of().ptr(addressOf(dy)).ptr(packedAddress(w)).i32(TernaryLayout.kcCount(w.cols()))
                        .ptr(scalesAddress(w)).i32(w.shards()).i32(axisCode(w.axis())).i32(w.rows()).i32(w.cols())
                        .ptr(addressOf(dx)).i32(m).i32(accumulate));
    }
}
