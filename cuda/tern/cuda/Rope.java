package tern.cuda;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.suffix;

/**
 * Launches rope.cu: the rotation by the (cos, sin) table of {@link RopeTables} (which launches
 * rope_table_f32), forward or inverse (the backward). Tensors were checked by {@link CudaBackend}.
 */
final class Rope {
    static final String MODULE = "rope";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("rope_table_f32", "p i i f").typed("rope", "p p p i i i i i f");
    private static final int THREADS = 256;

    private final Kernels kernels;

    Rope(Kernels kernels) {
        this.kernels = kernels;
    }

    /** n = rows · heads · headDim / 2 rotations, at least one; a thread takes eight of them where headDim / 2 allows. */
    void apply(Tensor x, Tensor out, Tensor table, int seq, int heads, int headDim, int posOffset, boolean inverse, long n) {
        long threads = (headDim / 2) % 8 == 0 ? n / 8 : n;
        kernels.launch(MODULE, "rope" + suffix(x), kernels.gridFor(threads, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(x)).ptr(addressOf(out)).ptr(addressOf(table)).i32(x.rows()).i32(seq).i32(heads)
                        .i32(headDim).i32(posOffset).f32(inverse ? -1f : 1f));
    }
}
