package tern.cuda;

import java.lang.foreign.MemorySegment;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

import jcuda.Pointer;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.suffix;

/**
 * Launches cross_entropy.cu: per-row losses and, in the same pass, the logits' gradient; the row losses are
 * read back and averaged here. Targets and tensors were checked by {@link CudaBackend}.
 */
final class CrossEntropy {
    static final String MODULE = "cross_entropy";
    static final KernelTable KERNELS = KernelTable.of(MODULE).paired("cross_entropy", "p p i i p i f p");
    private static final int THREADS = 256;

    private final Kernels kernels;
    private final CudaContext context;
    private final Scratch scratch;

    CrossEntropy(Kernels kernels, CudaContext context, Scratch scratch) {
        this.kernels = kernels;
        this.context = context;
        this.scratch = scratch;
    }

    /**
     * The mean loss over the {@code count} counted rows (of n ≥ 1); dlogits null: no gradient. Read now, or,
     * inside a step captured as a CUDA graph, from the row losses the replay copies back.
     */
    DoubleSupplier lossAndGradient(Tensor logits, int[] targets, Tensor dlogits, float lossScale, int count) {
        int n = logits.rows(), vocab = logits.cols();
        long ids = scratch.reserve(8L * n);
        long rowLoss = ids + 4L * n;
        scratch.toDevice(targets, 0, 4L * n);
        float gradScale = count == 0 ? 0f : lossScale / count;
        kernels.launch(MODULE, "cross_entropy" + suffix(logits) + suffix(dlogits == null ? logits : dlogits), Math.min(n, context.multiprocessors * 16), THREADS,
                KernelArgs.of().ptr(addressOf(logits)).ptr(ids).i32(n).i32(vocab)
                        .ptr(dlogits == null ? rowLoss : addressOf(dlogits)).i32(dlogits != null).f32(gradScale).ptr(rowLoss));
        StepRecorder recorder = context.recorder();
        if (recorder != null) {
            Supplier<MemorySegment> rows = recorder.read(rowLoss, 4L * n);
            return () -> mean(StepRecorder.floats(rows.get(), n), count);
        }
        float[] losses = new float[n];
        long t0 = System.nanoTime();
        scratch.toHost(Pointer.to(losses), 4L * n, 4L * n);
        kernels.profile.host("cross-entropy read (waits)", System.nanoTime() - t0);
        float loss = mean(losses, count);
        return () -> loss;
    }

    /** The row losses' sum (in double, in row order) over the counted rows. */
    private static float mean(float[] losses, int count) {
        double sum = 0;
        for (float l : losses) sum += l;
        return count == 0 ? 0f : (float) (sum / count);
    }
}
