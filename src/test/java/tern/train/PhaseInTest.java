package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** λ of the phase-in: 0 at the switch, rising linearly, 1 from {@code steps} updates on; 0 steps is abrupt. */
class PhaseInTest {
    @Test
    void linearRampFromZeroToOne() {
        PhaseIn p = new PhaseIn(4);
        assertEquals(0f, p.lambda(-3));
        assertEquals(0f, p.lambda(0));
        assertEquals(0.25f, p.lambda(1));
        assertEquals(0.5f, p.lambda(2));
        assertEquals(0.75f, p.lambda(3));
        assertEquals(1f, p.lambda(4));
        assertEquals(1f, p.lambda(1000));
    }

    @Test
    void noPhaseInIsAnAbruptSwitch() {
        assertEquals(1f, PhaseIn.NONE.lambda(0));
        assertEquals(0f, PhaseIn.NONE.lambda(-1));
    }

    @Test
    void negativeLengthIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new PhaseIn(-1));
    }
}
