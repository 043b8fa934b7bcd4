package tern.train;

/**
 * How quantization is phased in after a precision switch (continual QAT, Nielsen, Schneider-Kamp and
 * Galke 2025): the weights used are W + λ·(Q(W) − W), with λ rising linearly from 0 at the switch step to 1
 * after {@code steps} more updates; 0 steps is an abrupt switch (λ = 1 at once).
 *
 * <p>What we could confirm (search tool, arXiv 2502.11895 abstract and ACL Findings 2025 page): the paper
 * "gradually phases in quantization strength" and finds that it, like keeping the optimizer state, softens
 * the loss spike, an effect that further training compensates. The ramp's exact shape and length were not
 * visible in the text we could open; the linear ramp is SPEC.md's reading and our choice.
 *
 * @param steps updates over which λ goes from 0 to 1
 */
public record PhaseIn(long steps) {
    public static final PhaseIn NONE = new PhaseIn(0);

    public PhaseIn {
        if (steps < 0) throw new IllegalArgumentException("phase-in steps must not be negative, got " + steps);
    }

    /**
     * λ for the update {@code sinceSwitch} updates after the switch (0 = the first update in the new
     * precision): sinceSwitch / steps, capped at 1. Before the switch (negative) it is 0.
     */
    public float lambda(long sinceSwitch) {
        if (sinceSwitch < 0) return 0f;
        if (steps == 0 || sinceSwitch >= steps) return 1f;
        return (float) ((double) sinceSwitch / steps);
    }
}
