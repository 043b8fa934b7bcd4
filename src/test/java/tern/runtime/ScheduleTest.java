package tern.runtime;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Schedules at their breakpoints, by hand. */
class ScheduleTest {

    @Test
    void warmupLinearBreakpoints() {
        var s = new Schedule.WarmupLinear(1e-3, 1e-4, 10, 110, 0.1);
        assertEquals(1e-4, s.lr(0), 1e-15);          // (0+1)/10 of peak
        assertEquals(5e-4, s.lr(4), 1e-15);
        assertEquals(1e-3, s.lr(9), 1e-15);          // warmup ends at the peak
        assertEquals(1e-3, s.lr(10), 1e-15);         // decay starts from the peak
        assertEquals(5.5e-4, s.lr(60), 1e-15);       // halfway down the line
        assertEquals(1e-4, s.lr(110), 1e-15);
        assertEquals(1e-4, s.lr(500), 1e-15);        // clamped after the end
        assertEquals(0.1, s.weightDecay(109), 0);
    }

    @Test
    void cosineBreakpoints() {
        var s = new Schedule.Cosine(2e-3, 2e-4, 10, 110, 0.1);
        assertEquals(2e-3, s.lr(10), 1e-15);
        assertEquals(1.1e-3, s.lr(60), 1e-12);       // cos(π/2) = 0: midway between peak and min
        assertEquals(2e-4, s.lr(110), 1e-15);
    }

    @Test
    void spectraInterventions() {
        // 300 steps, warmup 30: LR cut from 2.4e-3 to 1.5e-3 at step 150, weight decay off at step 200.
        var s = new Schedule.Spectra(2.4e-3, 0, 30, 300, 0.1, 1.5e-3, 0.5, 2.0 / 3);
        assertEquals(150, s.cutStep());
        assertEquals(200, s.decayOffStep());
        var plain = new Schedule.WarmupLinear(2.4e-3, 0, 30, 300, 0.1);
        assertEquals(plain.lr(149), s.lr(149), 0);                       // untouched before the cut
        assertEquals(plain.lr(150) * 1.5e-3 / 2.4e-3, s.lr(150), 1e-15);  // the whole line rescaled after it
        assertTrue(s.lr(150) < s.lr(149) * 0.7, "the cut is a visible drop");
        assertEquals(0.1, s.weightDecay(199), 0);
        assertEquals(0.0, s.weightDecay(200), 0);
    }

    @Test
    void goldenScheduleMatchesTheReferenceScript() {
        // tools/reference/make_golden.py: total 3, warmup 1, peak 1e-2, min 1e-3, cut to 5e-3 at step 2, wd 0.1 off at step 2.
        var s = new Schedule.Spectra(1e-2, 1e-3, 1, 3, 0.1, 5e-3, 0.5, 2.0 / 3);
        assertEquals(1e-2, s.lr(0), 1e-15);
        assertEquals(1e-2, s.lr(1), 1e-15);
        assertEquals(5.5e-3 * 0.5, s.lr(2), 1e-15);          // halfway down the line, then rescaled
        assertEquals(0.1, s.weightDecay(1), 0);
        assertEquals(0.0, s.weightDecay(2), 0);
    }

    @Property(tries = 200)
    void learningRatesStayBetweenZeroAndPeak(@ForAll @IntRange(min = 0, max = 50) int warmup,
                                             @ForAll @IntRange(min = 50, max = 400) int total,
                                             @ForAll @IntRange(min = 0, max = 500) int step) {
        var s = new Schedule.Spectra(1e-3, 1e-5, warmup, total, 0.1, 6e-4, 0.5, 2.0 / 3);
        assertTrue(s.lr(step) > 0 && s.lr(step) <= 1e-3);
    }

    @Test
    void badSchedulesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Schedule.WarmupLinear(0, 0, 1, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> new Schedule.WarmupLinear(1e-3, 1e-2, 1, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> new Schedule.Cosine(1e-3, 0, 20, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> new Schedule.Spectra(1e-3, 0, 1, 10, 0, 2e-3, 0.5, 0.6));
    }
}
