package tern.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import jcuda.CudaException;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

/**
 * The kernels of {@code resources/tern/cuda/*.cu}, compiled for the device in hand (through the
 * {@link KernelCache}) and loaded as driver modules (JCuda); launched by name through {@link DriverLaunch}. With {@code checkEachLaunch} every
 * launch is followed by a synchronize, so an error inside a kernel is reported against that kernel's name
 * instead of at some later copy (tests and debugging; it costs the overlap of host and device).
 */
final class Kernels implements AutoCloseable {
    static final List<String> SOURCES = List.of("elementwise", "swiglu", "adamw", "rmsnorm", "rope", "embedding",
            "cross_entropy", "quantizers", "ternary", "matmul", "attention", "decode_step");
    /** Sources that need sm_80 or later (tensor-core MMA with f16 or bf16 inputs, cp.async), loaded only there. */
    static final List<String> AMPERE_SOURCES = List.of("ternary_mma", "attention_mma", "packed_gemv");
    private static final Pattern INCLUDE = Pattern.compile("(?m)^#include \"([A-Za-z0-9_.]+)\"\\s*$");

    private final CudaContext context;
    private final boolean checkEachLaunch;
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<String, KernelFunction> functions = new HashMap<>();
    private final Map<String, KernelSignature> signatures = new HashMap<>();   // absent value: driver cannot tell
    private final Map<String, Integer> dynamicSharedLimit = new HashMap<>();
    /** GPU time per kernel while switched on (CudaBackend.profile); also used around cuBLAS calls. */
    final LaunchProfile profile = new LaunchProfile();
    /** Where launches go: 0 = the legacy default stream; else a CUstream (CudaGraph capture, CudaBackend.launchOn). */
    private long stream;

    /** The context the kernels run in (launchers reach its recorder through it). */
    CudaContext context() { return context; }

    Kernels(CudaContext context, KernelCache cache, boolean checkEachLaunch) {
        this.context = context;
        this.checkEachLaunch = checkEachLaunch;
        context.makeCurrent();
        List<String> sources = new java.util.ArrayList<>(SOURCES);
        if (context.arch >= 80) sources.addAll(AMPERE_SOURCES);
        for (String source : sources) {
            CUmodule module = new CUmodule();
            cuModuleLoadData(module, cache.cubin(source(source), source + ".cu", context.arch));
            modules.put(source, module);
        }
    }

    boolean has(String module) {
        return modules.containsKey(module);
    }

    /**
     * The text of kernel source {@code name} (without ".cu") from the class path, with its
     * {@code #include "file"} lines replaced by those files (NVRTC is given no include path).
     */
    static String source(String name) {
        String text = resource(name + ".cu");
        Matcher m = INCLUDE.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) m.appendReplacement(out, Matcher.quoteReplacement(resource(m.group(1))));
        m.appendTail(out);
        return out.toString();
    }

    private static String resource(String file) {
        String path = "/tern/cuda/" + file;
        try (InputStream in = Kernels.class.getResourceAsStream(path)) {
            if (in == null) throw new IllegalStateException("kernel source " + path + " is not on the class path");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel source " + path, e);
        }
    }

    private KernelFunction function(String module, String name) {
        return functions.computeIfAbsent(name, n -> {
            CUmodule m = modules.get(module);
            if (m == null) throw new IllegalStateException("no kernel module " + module + " loaded (kernel " + n + ", sm_" + context.arch + ")");
            KernelFunction f = new KernelFunction();
            try {
                cuModuleGetFunction(f, m, n);
            } catch (CudaException e) {
                throw new IllegalStateException("CUDA kernel " + n + " is not in " + module + ".cu: " + e.getMessage(), e);
            }
            KernelSignature declared = KernelSignature.declared(n), loaded = KernelSignature.of(n, f);   // once, at load
            if (declared != null && loaded != null) declared.requireSameSizes(loaded);
            KernelSignature sig = declared != null ? declared : loaded;
            if (sig != null) signatures.put(n, sig);
            return f;
        });
    }

    /** Launches kernel {@code name} of {@code module} on a 1-D block of {@code threads}. */
    void launch(String module, String name, int gridX, int gridY, int gridZ, int threads, int sharedBytes, KernelArgs args) {
        launch(module, name, gridX, gridY, gridZ, threads, sharedBytes, false, args);
    }

    /**
     * As {@link #launch}, with programmatic dependent launch when {@code programmatic} and launching on a stream
     * of our own (sm_90: the kernel may start while the previous one finishes, so it must wait with
     * griddepcontrol.wait before reading that kernel's output; packed_gemv.cu and decode_step.cu's do).
     */
    void launch(String module, String name, int gridX, int gridY, int gridZ, int threads, int sharedBytes, boolean programmatic,
                KernelArgs args) {
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0) return;     // nothing to do (empty tensors)
        context.makeCurrent();
        KernelFunction f = function(module, name);
        KernelSignature sig = signatures.get(name);
        if (sig != null) sig.check(args);
        // Static shared memory counts toward the 48 KiB default too (tern_gemv_imma: 8 KiB static).
        if (sharedBytes > 32 * 1024) raiseDynamicShared(name, f, sharedBytes);
        StepRecorder recorder = context.recorder();
        if (recorder != null) {                       // a step captured (or checked) as a CUDA graph
            recorder.kernel(f, name, gridX, gridY, gridZ, threads, sharedBytes, programmatic, args);
            return;
        }
        jcuda.driver.CUevent[] timed = profile.begin();
        long t0 = timed == null ? 0 : System.nanoTime();
        int rc = programmatic && stream != 0
                ? DriverLaunch.launchProgrammatic(f, gridX, gridY, gridZ, threads, sharedBytes, stream, args)
                : DriverLaunch.launch(f, gridX, gridY, gridZ, threads, 1, 1, sharedBytes, stream, args);
        if (timed != null) profile.host("kernel launch", System.nanoTime() - t0);
        profile.end(timed, name);
        if (rc != 0) throw failure(name, gridX, gridY, gridZ, threads, sharedBytes, DriverLaunch.describe(rc), null);
        if (checkEachLaunch && stream == 0) {         // on another stream it may be capturing: no synchronize there
            try {
                cuCtxSynchronize();
            } catch (CudaException e) {
                throw failure(name, gridX, gridY, gridZ, threads, sharedBytes, e.getMessage(), e);
            }
        }
    }

    private static IllegalStateException failure(String name, int gx, int gy, int gz, int threads, int shared,
                                                 String why, Throwable cause) {
        return new IllegalStateException("CUDA kernel " + name + " (grid " + gx + "x" + gy + "x" + gz
                + ", block " + threads + ", shared " + shared + " B) failed: " + why, cause);
    }

    /**
     * Sends the following launches to {@code stream} (0: back to the legacy default stream); returns the
     * previous one. Profiling events live on the default stream: switch profiling off first.
     */
    long useStream(long stream) {
        if (stream != 0 && profile.on()) throw new IllegalStateException("switch the kernel profile off before launching on another stream");
        long previous = this.stream;
        this.stream = stream;
        return previous;
    }

    void launch(String module, String name, int gridX, int threads, KernelArgs args) {
        launch(module, name, gridX, 1, 1, threads, 0, args);
    }

    /** Blocks for a grid-stride loop over n elements: enough to fill the device, no more than needed. */
    int gridFor(long n, int threads) {
        long needed = (n + threads - 1) / threads;
        long fill = (long) context.multiprocessors * 8;
        return (int) Math.max(1, Math.min(needed, fill));
    }

    /** Whether a block may use {@code bytes} of dynamic shared memory on this device. */
    boolean sharedFits(int bytes) {
        return bytes <= Math.max(48 * 1024, context.maxSharedPerBlockOptin);
    }

    private void raiseDynamicShared(String name, CUfunction f, int bytes) {
        Integer set = dynamicSharedLimit.get(name);
        if (set != null && set >= bytes) return;
        cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
        dynamicSharedLimit.put(name, bytes);
    }

    @Override
    public void close() {
        context.makeCurrent();
        profile.close();
        for (CUmodule m : modules.values()) cuModuleUnload(m);
        modules.clear();
        functions.clear();
    }
}
