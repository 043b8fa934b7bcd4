package tern.cli;

import java.lang.reflect.InvocationTargetException;

import tern.runtime.Backend;
import tern.simd.CpuBackend;

/**
 * The one place the commands turn {@code --device cpu|cuda} into a {@link Backend}; everything after it
 * calls the backend only (DESIGN.md). The CUDA backend is loaded by name, so the CPU build runs without
 * JCuda or the cuda classes on the class path, and asking for CUDA where it cannot start fails with the
 * backend's own reason (no driver, no device, no NVRTC, JCuda missing).
 */
final class Devices {
    static final String CUDA_BACKEND = "tern.cuda.CudaBackend";

    private Devices() {}

    /** A new backend for {@code device} ("cpu" or "cuda"); a clear {@link UsageException} otherwise. */
    static Backend open(String device) {
        return switch (device) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> openCuda();
            default -> throw new UsageException("--device must be cpu or cuda, got '" + device + "'");
        };
    }

    private static Backend openCuda() {
        Class<?> cuda;
        try {
            cuda = Class.forName(CUDA_BACKEND);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new UsageException("--device cuda: this build has no CUDA backend (" + e + ")");
        }
        try {
            if (!(Boolean) cuda.getMethod("isAvailable").invoke(null))
                throw new UsageException("--device cuda: CUDA is not available: " + cuda.getMethod("unavailableReason").invoke(null));
            return (Backend) cuda.getConstructor().newInstance();
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof LinkageError)
                throw new UsageException("--device cuda: JCuda is missing or does not link (" + cause + ")");
            if (cause instanceof RuntimeException r) throw new UsageException("--device cuda: " + r.getMessage());
            throw new IllegalStateException("--device cuda: " + cause, cause);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new UsageException("--device cuda: the CUDA backend cannot be used here (" + e + ")");
        }
    }
}
