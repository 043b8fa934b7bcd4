package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

import tern.simd.CpuBackend;

/** The fp16 loss scale's rules (the GPU test trains with it): halve on overflow, double after the interval. */
class LossScaleTest {
    @Test
    void halvesOnOverflowAndDoublesAfterTheGrowthInterval() {
        {
            LossScale s = LossScale.of(1024f, 3);
            assertEquals(1024f, s.scale());
            s.overflowed();
            s.overflowed();
            assertEquals(256f, s.scale());
            assertEquals(2, s.overflows());
            s.applied();
            s.applied();
            assertEquals(256f, s.scale(), "not yet: two steps of three");
            s.applied();
            assertEquals(512f, s.scale(), "doubled after three steps without an overflow");
            s.applied();
            s.overflowed();                        // an overflow restarts the count
            s.applied();
            s.applied();
            assertEquals(256f, s.scale());
            s.applied();
            assertEquals(512f, s.scale());
        }
        assertNull(LossScale.forBackend(new CpuBackend()), "f32 activations need no loss scale");
    }
}
