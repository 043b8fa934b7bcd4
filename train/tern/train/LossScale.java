package tern.train;

import tern.runtime.Backend;
import tern.runtime.DType;

/**
 * Dynamic loss scaling for fp16 training ({@code --compute fp16}, activations stored in fp16): the loss
 * gradient is multiplied by a scale S before the backward pass so that small gradients stay above fp16's
 * underflow, and divided out before the update (AdamW's gradient factor). When any gradient overflows (the
 * gradient norm is not finite) the step's micro-batches are run again at S/2, up to {@link #MAX_RETRIES}
 * times: the update count and the data order stay those of an unscaled run (so checkpoints and resumption
 * are unchanged), and every retry is counted and logged. After {@link #growthInterval} steps without an
 * overflow S doubles. As torch.cuda.amp.GradScaler: initial 2^16, growth 2, backoff ½, interval 2000
 * ({@code -Dtern.fp16.initialScale}, {@code -Dtern.fp16.growthInterval} override them: tests).
 */
final class LossScale {
    static final int MAX_RETRIES = 40;

    private final int growthInterval;
    private float scale;
    private int goodSteps;
    private long overflows;

    private LossScale(float initial, int growthInterval) {
        if (!(initial > 0) || Float.isInfinite(initial)) throw new IllegalArgumentException("fp16 initial loss scale must be positive and finite, got " + initial);
        if (growthInterval < 1) throw new IllegalArgumentException("fp16 growth interval must be positive, got " + growthInterval);
        this.scale = initial;
        this.growthInterval = growthInterval;
    }

    /** A scaler starting at {@code initial}, doubling after {@code growthInterval} steps without an overflow. */
    static LossScale of(float initial, int growthInterval) { return new LossScale(initial, growthInterval); }

    /** The scaler of a backend whose activations are fp16, else null (bf16 and f32 need none). */
    static LossScale forBackend(Backend backend) {
        if (backend.activationType() != DType.F16) return null;
        return new LossScale(Float.parseFloat(System.getProperty("tern.fp16.initialScale", "65536")),
                Integer.getInteger("tern.fp16.growthInterval", 2000));
    }

    float scale() { return scale; }

    /** Overflows so far (steps retried at half the scale). */
    long overflows() { return overflows; }

    /** The gradients overflowed at the current scale: halve it (the step is run again). */
    void overflowed() {
        scale /= 2;
        goodSteps = 0;
        overflows++;
    }

    /** A step was applied: count it toward the next doubling. */
    void applied() {
        if (++goodSteps >= growthInterval) {
            scale *= 2;
            goodSteps = 0;
        }
    }
}
