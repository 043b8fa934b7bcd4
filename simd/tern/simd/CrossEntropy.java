package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * Mean cross-entropy over the rows whose target is not −1. Per row: lse = max + log Σ exp(x − max),
 * loss = lse − x[target]; the gradient of lossScale·mean is lossScale/count·(softmax − onehot).
 * With no counted row the loss is 0 and the gradient 0 (PyTorch would return NaN; a trainer is better
 * served by a batch that contributes nothing).
 */
final class CrossEntropy {
    private static final int MIN_CHUNK_ELEMENTS = 1 << 15;

    /** A target equal to this marks a row that does not count (padding, prompt tokens). */
    static final int IGNORE = -1;

    private final FloatKernels k;

    CrossEntropy(FloatKernels kernels) { this.k = kernels; }

    static void checkTargets(String op, int[] targets, int vocab) {
        for (int i = 0; i < targets.length; i++)
            if (targets[i] != IGNORE && (targets[i] < 0 || targets[i] >= vocab))
                throw new IllegalArgumentException(op + ": target " + targets[i] + " at row " + i
                        + " is outside the vocabulary of size " + vocab + " (use " + IGNORE + " to ignore a row)");
    }

    /** Returns the mean loss; when dlogits is non-null it receives the gradient (written). */
    float apply(MemorySegment logits, int rows, int vocab, int[] targets, MemorySegment dlogits, float lossScale) {
        int count = 0;
        for (int t : targets) if (t != IGNORE) count++;
        double[] rowLoss = new double[rows];
        float gradScale = count == 0 ? 0f : lossScale / count;
        Parallel.range(rows, Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, vocab)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long at = (long) r * vocab;
                if (targets[r] == IGNORE) {
                    if (dlogits != null) k.fill(0f, dlogits, at, vocab);
                    continue;
                }
                float max = k.max(logits, at, vocab);
                double sum = k.sumExp(logits, at, vocab, max);
                rowLoss[r] = max + Math.log(sum) - ScalarFloatKernels.get(logits, at + targets[r]);
                if (dlogits != null) {
                    // softmax·lossScale/count, then subtract lossScale/count at the target
                    k.expShiftScale(logits, at, vocab, max, (float) (gradScale / sum), dlogits, at);
                    long t = at + targets[r];
                    ScalarFloatKernels.set(dlogits, t, ScalarFloatKernels.get(dlogits, t) - gradScale);
                }
            }
        });
        if (count == 0) return 0f;
        double total = 0;
        for (double l : rowLoss) total += l;
        return (float) (total / count);
    }
}
