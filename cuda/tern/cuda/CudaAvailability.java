package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;

/**
 * Whether a CUDA backend can start here, decided once without throwing: the driver library must load
 * (checked through FFM before any JCuda class is touched, so a machine without a driver never loads
 * JCuda's natives), the JCuda classes must be on the class path (the dependency is optional), NVRTC must
 * load, and the driver must see a device.
 */
final class CudaAvailability {
    private static volatile String reason;   // null until probed; "" when available

    private CudaAvailability() {}

    static boolean available() {
        return whyNot().isEmpty();
    }

    /** Empty when CUDA is usable, else why not. */
    static String whyNot() {
        String r = reason;
        if (r == null) {
            synchronized (CudaAvailability.class) {
                if (reason == null) reason = probe();
                r = reason;
            }
        }
        return r;
    }

    private static String probe() {
        try {
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        } catch (IllegalArgumentException | UnsupportedOperationException | IllegalCallerException e) {
            return "no CUDA driver (libcuda.so.1 not found)";
        }
        try {
            Class.forName("jcuda.driver.JCudaDriver", false, CudaAvailability.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return "JCuda is not on the class path";
        }
        try {
            Nvrtc.load();
        } catch (RuntimeException | LinkageError e) {
            return "no NVRTC: " + e.getMessage();
        }
        try {
            int devices = CudaContext.deviceCount();
            return devices > 0 ? "" : "the CUDA driver sees no device";
        } catch (Throwable t) {     // JCuda natives missing or failing to link, driver errors
            return "CUDA driver unusable: " + t;
        }
    }
}
