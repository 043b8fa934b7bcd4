package tern.eval;

import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

/** The aggregate statistics lm-evaluation-harness reports (lm_eval/api/metrics.py). */
public final class Stats {
    private Stats() {}

    public static double mean(double[] xs) {
        double s = 0;
        for (double x : xs) s += x;
        return s / xs.length;
    }

    /** Sample standard deviation (n − 1 in the denominator); NaN for fewer than two values. */
    public static double sampleStd(double[] xs) {
        if (xs.length < 2) return Double.NaN;
        double m = mean(xs), ss = 0;
        for (double x : xs) ss += (x - m) * (x - m);
        return Math.sqrt(ss / (xs.length - 1));
    }

    /** The harness's mean_stderr: sample std / sqrt(n). */
    public static double meanStderr(double[] xs) {
        return sampleStd(xs) / Math.sqrt(xs.length);
    }

    /** The harness's perplexity aggregation: exp(−mean log-likelihood) over items. */
    public static double perplexity(double[] logLikelihoods) {
        return Math.exp(-mean(logLikelihoods));
    }

    /**
     * Bootstrap standard error of {@code statistic}: the sample std of the statistic over {@code resamples}
     * resamples with replacement (the harness bootstraps perplexity the same way); seeded, so a run repeats.
     */
    public static double bootstrapStderr(double[] xs, ToDoubleFunction<double[]> statistic, int resamples, long seed) {
        if (xs.length < 2) return Double.NaN;
        SplittableRandom random = new SplittableRandom(seed);
        double[] values = new double[resamples];
        double[] sample = new double[xs.length];
        for (int r = 0; r < resamples; r++) {
            for (int i = 0; i < sample.length; i++) sample[i] = xs[random.nextInt(xs.length)];
            values[r] = statistic.applyAsDouble(sample);
        }
        return sampleStd(values);
    }

    /** Index of the largest value, the first one on ties (numpy's argmax). */
    public static int argmax(double[] xs) {
        int best = 0;
        for (int i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
        return best;
    }
}
