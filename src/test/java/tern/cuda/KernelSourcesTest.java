package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every kernel source compiles with NVRTC for the oldest and newest architectures we target. Needs only
 * libnvrtc, not a GPU: where NVRTC is present (a CUDA toolkit, or the pip wheel's library on
 * LD_LIBRARY_PATH) this catches a kernel that nvcc accepts but NVRTC does not (NVRTC has no system
 * headers). sm_75 stands in for sm_70 where the NVRTC is CUDA 13's, which dropped Volta.
 */
class KernelSourcesTest {
    private static Nvrtc nvrtc;

    /** Per test, so it is reported skipped (not silently absent) where there is no NVRTC. */
    @BeforeEach
    void loadNvrtc() {
        if (nvrtc != null) return;
        try {
            nvrtc = Nvrtc.load();
        } catch (RuntimeException | LinkageError e) {
            Assumptions.assumeTrue(false, "no NVRTC library: kernel compile check skipped");
        }
    }

    @Test
    void everyKernelSourceCompilesForVoltaOrTuringAndHopper() {
        int oldest = nvrtc.version().startsWith("12.") || nvrtc.version().startsWith("11.") ? 70 : 75;
        for (String source : Kernels.SOURCES)
            for (int arch : new int[] {oldest, 90}) {
                byte[] cubin = nvrtc.compile(Kernels.source(source), source + ".cu", arch);
                // An ELF image: what the driver's module loader takes.
                assertElf(cubin, source, arch);
            }
        for (String source : Kernels.AMPERE_SOURCES)
            for (int arch : new int[] {80, 90}) assertElf(nvrtc.compile(Kernels.source(source), source + ".cu", arch), source, arch);
    }

    private static void assertElf(byte[] cubin, String source, int arch) {
        assertTrue(cubin.length > 4 && cubin[0] == 0x7f && cubin[1] == 'E' && cubin[2] == 'L' && cubin[3] == 'F',
                source + ".cu for sm_" + arch + " is not an ELF cubin");
    }
}
