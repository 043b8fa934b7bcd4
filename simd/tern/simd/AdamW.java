package tern.simd;

import java.lang.foreign.MemorySegment;
import tern.runtime.AdamWParams;

/**
 * One AdamW step in PyTorch's order (torch.optim.AdamW, single-tensor path): decoupled decay
 * p ← p·(1 − lr·wd); m ← lerp(m, g, 1−β1); v ← β2·v + (1−β2)·g²; p ← p − (lr/(1−β1^t))·m / (sqrt(v)/sqrt(1−β2^t) + eps).
 * The bias corrections are computed once per call in double (as Python computes them) and rounded to f32.
 */
final class AdamW {
    /** The per-call constants every element uses. */
    record Constants(float gradScale, float decay, float beta2, float oneMinusBeta1, float oneMinusBeta2,
                     float stepSize, float sqrtBias2, float eps) {
        static Constants of(AdamWParams p) {
            double bias1 = 1 - Math.pow(p.beta1(), p.step());
            double bias2 = 1 - Math.pow(p.beta2(), p.step());
            return new Constants(p.gradScale(), (float) (1 - (double) p.lr() * p.weightDecay()), p.beta2(),
                    (float) (1 - (double) p.beta1()), (float) (1 - (double) p.beta2()),
                    (float) (p.lr() / bias1), (float) Math.sqrt(bias2), p.eps());
        }
    }

    /** Elements per parallel chunk: an AdamW element is ~15 flops over 16 bytes, memory bound. */
    private static final int MIN_CHUNK = 1 << 15;

    private final FloatKernels k;

    AdamW(FloatKernels kernels) { this.k = kernels; }

    void step(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v, long size, AdamWParams p) {
        Constants c = Constants.of(p);
        Blocks.forEach(size, MIN_CHUNK, (from, n) -> k.adamw(param, grad, m, v, from, n, c));
    }
}
