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

    /** The usage lines of the two flags, for the commands' help texts. */
    static final String FLAGS = """
              --device cpu|cuda    the backend that computes                                  [cpu]
              --compute bf16|fp16|f32  CUDA's number type for matrix products and attention: bf16 tensor-core
                                   inputs with f32 accumulation (activations stored bf16), fp16 likewise with
                                   dynamic loss scaling in training (for sm_70), or f32 throughout
                                                                                     [bf16 on sm_80+, else f32]""";

    /** A new backend for {@code device} ("cpu" or "cuda") at the default compute type; a clear {@link UsageException} otherwise. */
    static Backend open(String device) {
        return open(device, null);
    }

    /** The backend of the command's --device and --compute flags. */
    static Backend open(Args args) {
        return open(args.string("device", "cpu"), args.string("compute", null));
    }

    /**
     * A new backend for {@code device} with {@code compute} ("bf16", "f32", or null for the device's default).
     * The CPU computes in f32 only: bf16 there is refused rather than silently ignored.
     */
    static Backend open(String device, String compute) {
        if (compute != null && !compute.equals("bf16") && !compute.equals("fp16") && !compute.equals("f32"))
            throw new UsageException("--compute must be bf16, fp16 or f32, got '" + compute + "'");
        return switch (device) {
            case "cpu" -> {
                if ("bf16".equals(compute) || "fp16".equals(compute))
                    throw new UsageException("--compute " + compute + " needs --device cuda (the CPU backend computes in f32)");
                yield new CpuBackend();
            }
            case "cuda" -> openCuda(compute);
            default -> throw new UsageException("--device must be cpu or cuda, got '" + device + "'");
        };
    }

    private static Backend openCuda(String compute) {
        Class<?> cuda;
        try {
            cuda = Class.forName(CUDA_BACKEND);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new UsageException("--device cuda: this build has no CUDA backend (" + e + ")");
        }
        try {
            if (!(Boolean) cuda.getMethod("isAvailable").invoke(null))
                throw new UsageException("--device cuda: CUDA is not available: " + cuda.getMethod("unavailableReason").invoke(null));
            return (Backend) cuda.getMethod("forCompute", String.class).invoke(null, compute);
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
