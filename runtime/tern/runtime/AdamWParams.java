package tern.runtime;

/**
 * Hyperparameters of one AdamW update of one tensor, with PyTorch's semantics (torch.optim.AdamW):
 * <pre>
 *   p ← p·(1 − lr·weightDecay)                       decoupled decay
 *   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^step)) / (sqrt(v / (1−β2^step)) + eps)
 * </pre>
 * {@code step} counts from 1. {@code gradScale} multiplies g first (gradient clipping, loss scaling).
 */
public record AdamWParams(float lr, float beta1, float beta2, float eps, float weightDecay, long step, float gradScale) {
    public AdamWParams {
        if (step < 1) throw new IllegalArgumentException("AdamW step counts from 1, got " + step);
    }
}
