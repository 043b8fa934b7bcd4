package tern.eval;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StatsTest {
    @Test
    void sampleStdAndStderrByHand() {
        double[] xs = {2, 4, 4, 4, 5, 5, 7, 9};   // mean 5, Σ(x−5)² = 32, sample var 32/7
        assertEquals(5.0, Stats.mean(xs), 1e-15);
        assertEquals(Math.sqrt(32.0 / 7), Stats.sampleStd(xs), 1e-15);
        assertEquals(Math.sqrt(32.0 / 7) / Math.sqrt(8), Stats.meanStderr(xs), 1e-15);
        assertEquals(Math.exp(-5), Stats.perplexity(xs), 1e-15);
    }

    @Test
    void bootstrapOfTheMeanAgreesWithTheAnalyticStderrAndRepeats() {
        SplittableRandom r = new SplittableRandom(7);
        double[] xs = new double[400];
        for (int i = 0; i < xs.length; i++) xs[i] = r.nextDouble() < 0.3 ? 1 : 0;
        double boot = Stats.bootstrapStderr(xs, Stats::mean, 1000, 1);
        // 1000 resamples estimate a standard deviation to about 1/sqrt(2·1000) ≈ 2.2% relative; allow 10%.
        assertEquals(Stats.meanStderr(xs), boot, 0.10 * Stats.meanStderr(xs));
        assertEquals(boot, Stats.bootstrapStderr(xs, Stats::mean, 1000, 1), 0.0);
    }

    @Test
    void argmaxTakesTheFirstOfTies() {
        assertEquals(1, Stats.argmax(new double[] {-3, -1, -1, -2}));
    }
}
