package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Runs everywhere, GPU or not (the one class without the device assumption): the availability probe never
 * throws and agrees with itself, and where it says no, the constructor fails with the reason instead of
 * crashing in native code.
 */
class AvailabilityTest {
    @Test
    void availabilityIsAnsweredWithoutThrowingAndExplained() {
        boolean available = CudaBackend.isAvailable();
        assertEquals(available, CudaBackend.isAvailable(), "the answer is stable");
        assertEquals(available, CudaBackend.unavailableReason().isEmpty(), "a reason exactly when unavailable");
        if (!available) {
            IllegalStateException e = assertThrows(IllegalStateException.class, CudaBackend::new);
            assertTrue(e.getMessage().contains(CudaBackend.unavailableReason()), e.getMessage());
        } else {
            try (CudaBackend b = new CudaBackend(0, CudaBackend.MatmulPath.KERNEL, false)) {
                assertFalse(b.name().isEmpty());
                assertTrue(b.arch() >= 70, "compute capability " + b.arch());
            }
        }
    }
}
