package tern.cuda;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.ceilDiv;
import static tern.cuda.CudaBackend.suffix;

/**
 * Launches swiglu.cu: out = silu(gate)·up and its backward, a thread per eight elements (16-byte accesses).
 * Tensors were checked by {@link CudaBackend}.
 */
final class SwiGlu {
    static final String MODULE = "swiglu";
    static final KernelTable KERNELS = KernelTable.of(MODULE).typed("swiglu_fwd", "p p p l").typed("swiglu_bwd", "p p p p p l");
    private static final int THREADS = 256;

    private final Kernels kernels;

    SwiGlu(Kernels kernels) {
        this.kernels = kernels;
    }

    void forward(Tensor gate, Tensor up, Tensor out) {
        long n = gate.size();
        kernels.launch(MODULE, "swiglu_fwd" + suffix(gate), kernels.gridFor(ceilDiv(n, 8), THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(gate)).ptr(addressOf(up)).ptr(addressOf(out)).i64(n));
    }

    void backward(Tensor dout, Tensor gate, Tensor up, Tensor dgate, Tensor dup) {
        long n = gate.size();
        kernels.launch(MODULE, "swiglu_bwd" + suffix(gate), kernels.gridFor(ceilDiv(n, 8), THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(dout)).ptr(addressOf(gate)).ptr(addressOf(up)).ptr(addressOf(dgate)).ptr(addressOf(dup)).i64(n));
    }
}
