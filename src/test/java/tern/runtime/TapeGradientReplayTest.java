package tern.runtime;

import org.junit.jupiter.api.Test;

/**
 * Samples of {@link TapeGradientTest} that once failed it, replayed on every run: a finite difference that
 * stepped over RMSNorm's bend (one feature at −0.0012) agreed with itself at h and 2h but not with the slope.
 */
class TapeGradientReplayTest {
    @Test
    void oneFeatureInsideTheRmsNormBend() {
        new TapeGradientTest().mlpBlockGradients(2, 1, 12, 682);
    }
}
