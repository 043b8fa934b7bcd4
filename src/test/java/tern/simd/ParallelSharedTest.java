package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** {@link Parallel#shared}: every index runs exactly once, in pieces of the grain, and failures reach the caller. */
class ParallelSharedTest {

    @Property(tries = 200)
    void everyIndexRunsOnceInPiecesOfTheGrain(@ForAll @IntRange(min = 0, max = 5000) int n, @ForAll @IntRange(min = 1, max = 700) int grain) {
        AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(1, n));
        Parallel.shared(n, grain, (from, to) -> {
            // A piece is [p·grain, min(n, (p+1)·grain)) for some p (or the whole range when run serially).
            if (!(from == 0 && to == n) && (from % grain != 0 || to != Math.min(n, from + grain)))
                throw new AssertionError("piece [" + from + ", " + to + ") of n=" + n + ", grain " + grain);
            for (int i = from; i < to; i++) runs.incrementAndGet(i);
        });
        for (int i = 0; i < n; i++) assertEquals(1, runs.get(i), "index " + i + " of " + n);
    }

    @Test
    void aFailingPieceIsRethrownAfterTheOthersFinish() {
        AtomicIntegerArray runs = new AtomicIntegerArray(64);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.shared(64, 1, (from, to) -> {
            runs.incrementAndGet(from);
            if (from == 17) throw new IllegalStateException("piece 17");
        }));
        assertEquals("piece 17", e.getMessage());
        for (int i = 0; i < 64; i++) assertEquals(1, runs.get(i), "piece " + i);
    }
}
