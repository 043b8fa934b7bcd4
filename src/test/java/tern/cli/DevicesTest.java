package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import tern.cuda.CudaBackend;
import tern.runtime.Backend;
import tern.runtime.Device;

/** --device: cpu opens the CPU backend, cuda the GPU one or a message with CUDA's reason, others refused. */
class DevicesTest {
    @Test
    void cpuOpensTheCpuBackend() {
        try (Backend b = Devices.open("cpu")) {
            assertEquals(Device.CPU, b.device());
        }
    }

    @Test
    void unknownDeviceIsRefusedByName() {
        UsageException e = assertThrows(UsageException.class, () -> Devices.open("tpu"));
        assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("cpu or cuda"), e.getMessage());
    }

    @Test
    void cudaWithoutADeviceSaysWhy() {
        Assumptions.assumeFalse(CudaBackend.isAvailable(), "CUDA is available here");
        UsageException e = assertThrows(UsageException.class, () -> Devices.open("cuda"));
        assertTrue(e.getMessage().contains(CudaBackend.unavailableReason()), e.getMessage());
    }

    @Test
    void cudaWhereAvailableOpensTheGpuBackend() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device");
        try (Backend b = Devices.open("cuda")) {
            assertEquals(Device.CUDA, b.device());
        }
    }
}
