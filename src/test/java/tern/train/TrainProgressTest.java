package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The progress line: redrawn in place at most twice a second on a clock we control, and what it shows. */
class TrainProgressTest {

    @Test
    void terminalLineIsRedrawnAtMostTwiceASecondAndAlwaysAtTheEnd() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        long[] now = {0};
        Progress p = new Progress(new PrintStream(bytes, true, StandardCharsets.UTF_8), 0, 100, true, () -> now[0]);
        for (int step = 1; step <= 100; step++) {
            now[0] += 100_000_000L;                 // 0.1 s per step: 10 s in all
            p.update(step, 2.0f, step * 512L, 1e-3);
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        long redraws = out.chars().filter(c -> c == '\r').count();
        assertTrue(redraws <= 10 / 0.5 + 2, "at most two redraws a second: " + redraws);
        assertTrue(redraws >= 10, "but it does refresh: " + redraws);
        String last = out.substring(out.lastIndexOf('\r') + 1);
        assertEquals("step 100/100 | loss 2.0000 | 5120 tok/s | lr 1.00e-03 | 0:10 elapsed | ETA 0:00", last.strip());
        assertTrue(!out.contains("\n"), "a terminal display stays on one line");
    }

    @Test
    void smoothedLossIsABiasCorrectedMovingAverage() {
        Progress p = new Progress(new PrintStream(new ByteArrayOutputStream()), 0, 10, false, () -> 0L);
        p.update(1, 4f, 0, 1e-3);
        assertEquals(4.0, p.smoothedLoss(), 1e-12, "the first loss is shown as it is");
        p.update(2, 2f, 0, 1e-3);
        assertEquals((0.9 * 0.1 * 4 + 0.1 * 2) / (1 - 0.81), p.smoothedLoss(), 1e-12);
        p.update(3, Float.NaN, 0, 1e-3);
        assertTrue(Double.isFinite(p.smoothedLoss()), "a NaN does not poison the display");
    }

    @Test
    void numbersForPeople() {
        assertEquals("950", Progress.rate(950));
        assertEquals("56.8k", Progress.rate(56_789));
        assertEquals("1.23M", Progress.rate(1_234_567));
        assertEquals("1:05", Progress.clockTime(65));
        assertEquals("2:00:00", Progress.clockTime(7200));
        assertEquals("?", Progress.clockTime(Double.NaN));
    }
}
