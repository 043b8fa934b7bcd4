package tern.runtime;

/**
 * Learning-rate and weight-decay schedules as pure functions of the step (0-based: the value used by the
 * update that makes step {@code s+1}). Pure functions make resumption exact: no hidden state.
 */
public sealed interface Schedule {

    /** Learning rate for the update at 0-based step s. */
    double lr(long s);

    /** Weight decay for the update at 0-based step s. */
    double weightDecay(long s);

    /** Linear warmup from 0 to peak over {@code warmup} steps, then linear decay to {@code min} at {@code total}. */
    record WarmupLinear(double peak, double min, long warmup, long total, double decay) implements Schedule {
        public WarmupLinear { check(peak, min, warmup, total); }
        @Override public double lr(long s) { return linear(peak, min, warmup, total, s); }
        @Override public double weightDecay(long s) { return decay; }
    }

    /** Linear warmup, then cosine decay from peak to {@code min} at {@code total}. */
    record Cosine(double peak, double min, long warmup, long total, double decay) implements Schedule {
        public Cosine { check(peak, min, warmup, total); }
        @Override public double lr(long s) {
            if (s < warmup) return peak * (s + 1) / warmup;
            double t = Math.min(1.0, (double) (s - warmup) / Math.max(1, total - warmup));
            return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * t));
        }
        @Override public double weightDecay(long s) { return decay; }
    }

    /**
     * The Spectra TriLM schedule: linear warmup and linear decay (as {@link WarmupLinear}) with two
     * interventions. At {@code lrCutAt}·total the peak learning rate is lowered to {@code lrCutPeak}: from
     * then on the rate follows the same linear-decay line rescaled by lrCutPeak/peak. At {@code decayOffAt}·total
     * weight decay drops to zero. SPEC.md: the cut at about one half, decay off at about two thirds.
     */
    record Spectra(double peak, double min, long warmup, long total, double decay,
                   double lrCutPeak, double lrCutAt, double decayOffAt) implements Schedule {
        public Spectra {
            check(peak, min, warmup, total);
            if (lrCutPeak <= 0 || lrCutPeak > peak) throw new IllegalArgumentException("reduced peak LR must be in (0, peak]: " + lrCutPeak);
            if (lrCutAt < 0 || lrCutAt > 1 || decayOffAt < 0 || decayOffAt > 1) throw new IllegalArgumentException("intervention points are fractions of training in [0,1]");
        }

        /** First 0-based step at the reduced peak. */
        public long cutStep() { return Math.round(lrCutAt * total); }

        /** First 0-based step without weight decay. */
        public long decayOffStep() { return Math.round(decayOffAt * total); }

        @Override public double lr(long s) {
            double base = linear(peak, min, warmup, total, s);
            return s >= cutStep() ? base * (lrCutPeak / peak) : base;
        }

        @Override public double weightDecay(long s) { return s >= decayOffStep() ? 0 : decay; }
    }

    /** A constant rate (tests, fine-tuning). */
    record Constant(double rate, double decay) implements Schedule {
        @Override public double lr(long s) { return rate; }
        @Override public double weightDecay(long s) { return decay; }
    }

    private static double linear(double peak, double min, long warmup, long total, long s) {
        if (s < warmup) return peak * (s + 1) / warmup;          // step 0 already moves: no wasted update at lr 0
        double t = Math.min(1.0, (double) (s - warmup) / Math.max(1, total - warmup));
        return peak + (min - peak) * t;
    }

    private static void check(double peak, double min, long warmup, long total) {
        if (!(peak > 0)) throw new IllegalArgumentException("peak learning rate must be positive: " + peak);
        if (min < 0 || min > peak) throw new IllegalArgumentException("minimum learning rate must be in [0, peak]: " + min);
        if (warmup < 0 || total <= 0 || warmup > total) throw new IllegalArgumentException("need 0 <= warmup (" + warmup + ") <= total (" + total + ")");
    }
}
