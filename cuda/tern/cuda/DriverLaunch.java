package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import jcuda.driver.CUresult;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * cuLaunchKernel called through FFM. JCuda's launch marshals every argument through JNI (pinning one Java
 * array per argument), which measured 7 µs for a three-argument kernel and about 17 µs for the
 * eleven-argument ternary product on the H100 machine: more than many kernels take. Here the arguments go
 * into native slots owned by the calling thread and the driver is called directly; the context, modules
 * and memory stay with JCuda (same driver, same context, so the two mix freely).
 */
final class DriverLaunch {
    private static final MethodHandle LAUNCH = Linker.nativeLinker().downcallHandle(
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("cuLaunchKernel")
                    .orElseThrow(() -> new IllegalStateException("libcuda.so.1 lacks cuLaunchKernel")),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                    JAVA_INT, ADDRESS, ADDRESS, ADDRESS));

    /** Per thread: the argument values, 8 bytes each, and the array of pointers to them that the driver reads. */
    private static final ThreadLocal<MemorySegment[]> SLOTS = ThreadLocal.withInitial(() -> {
        Arena arena = Arena.ofAuto();
        MemorySegment values = arena.allocate(8L * KernelArgs.MAX, 8);
        MemorySegment pointers = arena.allocate(8L * KernelArgs.MAX, 8);
        for (int i = 0; i < KernelArgs.MAX; i++) pointers.setAtIndex(ADDRESS, i, values.asSlice(8L * i, 8));
        return new MemorySegment[] {values, pointers};
    });

    /**
     * cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, or null where the driver
     * lacks it (before CUDA 12.0). The kernel may then start before the previous kernel in the stream has
     * finished; it must execute griddepcontrol.wait before reading that kernel's output.
     */
    private static final MethodHandle LAUNCH_EX = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("cuLaunchKernelEx")
            .map(s -> Linker.nativeLinker().downcallHandle(s, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS)))
            .orElse(null);
    /** CUlaunchConfig (56 bytes: seven uints, the stream at 32, attrs at 40, numAttrs at 48) and one CUlaunchAttribute (72 bytes). */
    private static final ThreadLocal<MemorySegment> CONFIG = ThreadLocal.withInitial(() -> {
        MemorySegment c = Arena.ofAuto().allocate(56 + 72, 8);
        MemorySegment attr = c.asSlice(56, 72);
        attr.set(JAVA_INT, 0, 6);                   // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
        attr.set(JAVA_INT, 8, 1);                   // programmaticStreamSerializationAllowed
        c.set(ADDRESS, 40, attr);
        c.set(JAVA_INT, 48, 1);
        return c;
    });

    private DriverLaunch() {}

    static boolean hasProgrammaticLaunch() { return LAUNCH_EX != null; }

    /** As {@link #launch}, on {@code stream}, allowing programmatic dependent launch. */
    static int launchProgrammatic(KernelFunction f, int gx, int gy, int gz, int bx, int shared, long stream, KernelArgs args) {
        if (LAUNCH_EX == null) throw new IllegalStateException("the driver has no cuLaunchKernelEx");
        MemorySegment[] slots = SLOTS.get();
        args.writeTo(slots[0]);
        MemorySegment c = CONFIG.get();
        c.set(JAVA_INT, 0, gx);
        c.set(JAVA_INT, 4, gy);
        c.set(JAVA_INT, 8, gz);
        c.set(JAVA_INT, 12, bx);
        c.set(JAVA_INT, 16, 1);
        c.set(JAVA_INT, 20, 1);
        c.set(JAVA_INT, 24, shared);
        c.set(java.lang.foreign.ValueLayout.JAVA_LONG, 32, stream);
        try {
            return (int) LAUNCH_EX.invokeExact(c, MemorySegment.ofAddress(f.handle()), slots[1], MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException("cuLaunchKernelEx could not be called", t);
        }
    }

    /** Launches on the legacy default stream; returns the driver's result code (0 = success). */
    static int launch(KernelFunction f, int gx, int gy, int gz, int bx, int by, int bz, int shared, KernelArgs args) {
        return launch(f, gx, gy, gz, bx, by, bz, shared, 0L, args);
    }

    /** Launches on {@code stream} (0: the legacy default stream; else a CUstream, e.g. one being captured). */
    static int launch(KernelFunction f, int gx, int gy, int gz, int bx, int by, int bz, int shared, long stream, KernelArgs args) {
        MemorySegment[] slots = SLOTS.get();
        args.writeTo(slots[0]);
        try {
            return (int) LAUNCH.invokeExact(MemorySegment.ofAddress(f.handle()), gx, gy, gz, bx, by, bz, shared,
                    MemorySegment.ofAddress(stream), slots[1], MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException("cuLaunchKernel could not be called", t);
        }
    }

    static String describe(int result) {
        return CUresult.stringFor(result);
    }
}
