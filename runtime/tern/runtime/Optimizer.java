package tern.runtime;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * What the trainer asks of its optimizer, whether every rank holds the whole AdamW state ({@link AdamW}) or
 * only its slice of it ({@link ShardedAdamW}, ZeRO-1). Both keep the same checkpoint: the moments of every
 * parameter at full shape ({@link #fullMoments}, {@link #loadMoments}), so a run made on N ranks resumes on M.
 */
public interface Optimizer extends AutoCloseable {
    List<Parameter> parameters();

    /** Number of updates applied so far (the next update uses step + 1 for bias correction). */
    long step();

    /** Restores the step counter from a checkpoint. */
    void setStep(long step);

    float beta1();

    float beta2();

    float eps();

    /** Zeroes the moments and the step counter (a fresh optimizer, e.g. at a precision switch). */
    void reset();

    void zeroGrad();

    /**
     * Combines the ranks' gradients into what {@link #gradNorm} and {@link #update} read: the full sums
     * (unsharded) or this rank's slices of them (sharded). A run of one process passes null: nothing to do.
     */
    void combineGradients(GradientSync sync);

    /** Global L2 norm of the whole model's gradient (accumulated in double), the same on every rank. */
    default double gradNorm() { return Math.sqrt(gradSquares(p -> true)); }

    /**
     * {@link #gradNorm}, read when the supplier is asked (a step replayed as a graph has its sums only after
     * the replay: {@link Backend#sumOfSquaresAllLater}); the same value.
     */
    default java.util.function.DoubleSupplier gradNormLater() {
        double norm = gradNorm();
        return () -> norm;
    }

    /**
     * The sum of squares of the gradients of the parameters {@code include} accepts (accumulated in double),
     * over this optimizer's ranks, the same on every rank. Tensor parallelism adds the part of the sliced
     * parameters over its group and counts the replicated ones once.
     */
    double gradSquares(java.util.function.Predicate<Parameter> include);

    /** One update of every parameter; gradients are multiplied by gradScale first. */
    void update(float lr, float weightDecay, float gradScale);

    /**
     * The first and second moment of every parameter at full shape, for a checkpoint. A sharded optimizer
     * gathers them from the ranks, so every rank calls this at the same point; closing the result frees
     * what was gathered (an unsharded optimizer hands out its own tensors and frees nothing).
     */
    FullMoments fullMoments();

    /** Sets p's moments from full-shape host f32 tensors (a checkpoint); a sharded optimizer keeps its slice. */
    void loadMoments(Parameter p, Tensor first, Tensor second);

    @Override void close();

    /** dst ← host f32 tensor {@code src} (same size), whichever device dst is on. */
    static void copyFromHost(Backend backend, Tensor src, Tensor dst) {
        if (src.size() != dst.size()) throw new IllegalArgumentException("copy of " + src.describe() + " into " + dst.describe());
        if (dst.device() == Device.CPU) {
            MemorySegment.copy(src.segment(), 0, dst.segment(), 0, dst.byteSize());
        } else {
            try (Tensor up = backend.upload(src.toFloatArray(), dst.shape())) {
                backend.copy(up, dst);
            }
        }
    }
}
