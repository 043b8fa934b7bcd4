package tern.cuda;

import jcuda.Pointer;

import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.axisCode;
import static tern.cuda.CudaBackend.packedAddress;
import static tern.cuda.CudaBackend.scalesAddress;
import static tern.cuda.CudaBackend.suffix;

/**
 * Launches ternary.cu, both directions of the packed layout ({@link TernaryLayout}): f32 weights packed at
 * 2 bits per weight by given scales, and packed weights unpacked to γ·T (into a tensor, or into the weight
 * scratch as the operand of the cuBLAS ternary products). Tensors were checked by {@link CudaBackend}.
 */
final class TernaryPacking {
    static final String MODULE = "ternary";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("tern_pack", "p i i i p i i p").typed("tern_unpack", "p i i i p i i p");
    private static final int THREADS = 256;

    private final Kernels kernels;
    private final CudaContext context;
    private final DevicePool pool;
    private final Scratch weightScratch;

    TernaryPacking(Kernels kernels, CudaContext context, DevicePool pool, Scratch weightScratch) {
        this.kernels = kernels;
        this.context = context;
        this.pool = pool;
        this.weightScratch = weightScratch;
    }

    /** Packs w by {@code packGammas} (T = clamp(rint(w/γ))); the result reports {@code gammas}. */
    TernaryWeights pack(Tensor w, float[] packGammas, float[] gammas, ShardAxis axis) {
        int rows = w.rows(), cols = w.cols(), shards = gammas.length;
        int kc = TernaryLayout.kcCount(cols);
        long packedBytes = TernaryLayout.packedBytes(rows, cols);
        DeviceStorage storage = new DeviceStorage(pool, packedBytes + 4L * shards);
        Tensor packed = Tensor.wrap(storage, 0, DType.TERNARY2, true, TernaryLayout.paddedRows(rows), kc * 32);
        context.toDevice(storage.pointer().plus(packedBytes), Pointer.to(packGammas), 4L * shards);
        long words = packedBytes / 4;
        kernels.launch(MODULE, "tern_pack", kernels.gridFor(words, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(w)).i32(rows).i32(cols).i32(kc).ptr(storage.address() + packedBytes)
                        .i32(shards).i32(axisCode(axis)).ptr(storage.address()));
        return new TernaryWeights(packed, rows, cols, gammas, axis);
    }

    void unpack(TernaryWeights w, Tensor out) {
        long packed = packedAddress(w), n = (long) w.rows() * w.cols();
        kernels.launch(MODULE, "tern_unpack" + suffix(out), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(packed).i32(w.rows()).i32(w.cols()).i32(TernaryLayout.kcCount(w.cols()))
                        .ptr(scalesAddress(w)).i32(w.shards()).i32(axisCode(w.axis())).ptr(addressOf(out)));
    }

    /** γT as a dense f32, bf16 or f16 [rows, cols] matrix in the weight scratch (valid until the next call). */
    long unpackToScratch(TernaryWeights w, DType type) {
        long n = (long) w.rows() * w.cols();
        long dst = weightScratch.reserve(type.bytesFor(n));
        kernels.launch(MODULE, "tern_unpack" + (type == DType.BF16 ? "_bf16" : type == DType.F16 ? "_f16" : "_f32"), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(packedAddress(w)).i32(w.rows()).i32(w.cols()).i32(TernaryLayout.kcCount(w.cols()))
                        .ptr(scalesAddress(w)).i32(w.shards()).i32(axisCode(w.axis())).ptr(dst));
        return dst;
    }
}
