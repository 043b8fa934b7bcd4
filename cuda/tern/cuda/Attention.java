package tern.cuda;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.ceilDiv;

/**
 * Launches attention.cu, the f32 causal attention on CUDA cores (any architecture), forward and backward
 * (delta, then dq, then dk and dv). The tensor-core path is {@link TensorCoreAttention}. Tensors were
 * checked by {@link CudaBackend}.
 */
final class Attention {
    static final String MODULE = "attention";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("attn_fwd", "p p p p p i i i i i f")
            .kernel("attn_bwd_delta", "p p p i i i i").kernel("attn_bwd_dq", "p p p p p p p i i i i i f")
            .kernel("attn_bwd_dkdv", "p p p p p p p p i i i i i f");
    private static final int THREADS = 256;

    private final Kernels kernels;
    private final Scratch scratch;

    Attention(Kernels kernels, Scratch scratch) {
        this.kernels = kernels;
        this.scratch = scratch;
    }

    void forward(Tensor q, Tensor k, Tensor v, int batch, int qLen, int kvLen, int heads, int headDim, Tensor out, Tensor lse) {
        kernels.launch(MODULE, "attn_fwd", ceilDiv(qLen, 8), heads, batch, THREADS, 0,
                KernelArgs.of().ptr(addressOf(q)).ptr(addressOf(k)).ptr(addressOf(v)).ptr(addressOf(out)).ptr(addressOf(lse))
                        .i32(batch).i32(qLen).i32(kvLen).i32(heads).i32(headDim).f32((float) (1.0 / Math.sqrt(headDim))));
    }

    void backward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, int batch, int qLen, int kvLen, int heads,
                  int headDim, Tensor dq, Tensor dk, Tensor dv) {
        float scale = (float) (1.0 / Math.sqrt(headDim));
        long items = (long) batch * qLen * heads;
        long delta = scratch.zeroed(4 * items);
        kernels.launch(MODULE, "attn_bwd_delta", (int) ceilDiv(items, THREADS / 32), THREADS,
                KernelArgs.of().ptr(addressOf(dout)).ptr(addressOf(out)).ptr(delta).i32(batch).i32(qLen).i32(heads).i32(headDim));
        KernelArgs common = KernelArgs.of().ptr(addressOf(q)).ptr(addressOf(k)).ptr(addressOf(v)).ptr(addressOf(dout))
                .ptr(addressOf(lse)).ptr(delta).ptr(addressOf(dq));
        kernels.launch(MODULE, "attn_bwd_dq", ceilDiv(qLen, 8), heads, batch, THREADS, 0,
                common.i32(batch).i32(qLen).i32(kvLen).i32(heads).i32(headDim).f32(scale));
        kernels.launch(MODULE, "attn_bwd_dkdv", ceilDiv(kvLen, 8), heads, batch, THREADS, 0,
                KernelArgs.of().ptr(addressOf(q)).ptr(addressOf(k)).ptr(addressOf(v)).ptr(addressOf(dout))
                        .ptr(addressOf(lse)).ptr(delta).ptr(addressOf(dk)).ptr(addressOf(dv))
                        .i32(batch).i32(qLen).i32(kvLen).i32(heads).i32(headDim).f32(scale));
    }
}
