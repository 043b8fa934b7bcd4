package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The driver calls that streams and CUDA graphs need, through FFM as {@link DriverLaunch} calls
 * cuLaunchKernel: JCuda 12.0's graph bindings predate cuGraphInstantiateWithFlags, and going straight to the
 * driver costs no JNI marshalling per replayed step. Every handle is a raw 64-bit value (CUstream,
 * CUgraph, CUgraphExec are pointers to opaque driver structs); every call returns a CUresult (0 = success).
 */
final class CudaGraphDriver {
    private static final SymbolLookup CUDA = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());

    static final MethodHandle STREAM_CREATE = handle("cuStreamCreate", ADDRESS, JAVA_INT);
    static final MethodHandle STREAM_DESTROY = handle("cuStreamDestroy_v2", JAVA_LONG);
    static final MethodHandle STREAM_SYNCHRONIZE = handle("cuStreamSynchronize", JAVA_LONG);
    static final MethodHandle BEGIN_CAPTURE = handle("cuStreamBeginCapture_v2", JAVA_LONG, JAVA_INT);
    static final MethodHandle END_CAPTURE = handle("cuStreamEndCapture", JAVA_LONG, ADDRESS);
    static final MethodHandle IS_CAPTURING = handle("cuStreamIsCapturing", JAVA_LONG, ADDRESS);
    static final MethodHandle GRAPH_NODES = handle("cuGraphGetNodes", JAVA_LONG, ADDRESS, ADDRESS);
    static final MethodHandle INSTANTIATE = handle("cuGraphInstantiateWithFlags", ADDRESS, JAVA_LONG, JAVA_LONG);
    static final MethodHandle GRAPH_LAUNCH = handle("cuGraphLaunch", JAVA_LONG, JAVA_LONG);
    static final MethodHandle GRAPH_EXEC_DESTROY = handle("cuGraphExecDestroy", JAVA_LONG);
    static final MethodHandle GRAPH_DESTROY = handle("cuGraphDestroy", JAVA_LONG);
    static final MethodHandle HOST_ALLOC = handle("cuMemAllocHost_v2", ADDRESS, JAVA_LONG);
    static final MethodHandle HOST_FREE = handle("cuMemFreeHost", JAVA_LONG);
    static final MethodHandle COPY_TO_DEVICE_ASYNC = handle("cuMemcpyHtoDAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final MethodHandle COPY_TO_HOST_ASYNC = handle("cuMemcpyDtoHAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final MethodHandle COPY_DEVICE_ASYNC = handle("cuMemcpyDtoDAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final MethodHandle MEMSET_D8_ASYNC = handle("cuMemsetD8Async", JAVA_LONG, JAVA_BYTE, JAVA_LONG, JAVA_LONG);

    /** cuStreamCreate flag: no implicit synchronization with the legacy default stream. */
    static final int STREAM_NON_BLOCKING = 1;
    /** CUstreamCaptureMode: unsafe calls (allocation, synchronous copies) from the capturing thread fail. */
    static final int CAPTURE_MODE_THREAD_LOCAL = 1;
    /** CUstreamCaptureStatus. */
    static final int CAPTURE_STATUS_ACTIVE = 1;

    private CudaGraphDriver() {}

    private static MethodHandle handle(String name, java.lang.foreign.MemoryLayout... args) {
        MemorySegment symbol = CUDA.find(name).orElseThrow(() -> new IllegalStateException("libcuda.so.1 lacks " + name
                + " (CUDA graphs need a driver of CUDA 11.4 or later)"));
        return Linker.nativeLinker().downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT, args));
    }

    /** Throws naming {@code what} unless {@code result} is CUDA_SUCCESS. */
    static void check(int result, String what) {
        if (result != 0) throw new CudaGraphException(what + " failed: " + DriverLaunch.describe(result), result);
    }

    /** Calls a handle off the hot path (setup, capture), turning FFM's Throwable into an unchecked exception. */
    static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new IllegalStateException("driver call could not be made: " + t, t);
        }
    }

    // The per-step calls, with exact signatures (no boxing).

    static int graphLaunch(long exec, long stream) {
        try {
            return (int) GRAPH_LAUNCH.invokeExact(exec, stream);
        } catch (Throwable t) {
            throw new IllegalStateException("cuGraphLaunch could not be called", t);
        }
    }

    static int streamSynchronize(long stream) {
        try {
            return (int) STREAM_SYNCHRONIZE.invokeExact(stream);
        } catch (Throwable t) {
            throw new IllegalStateException("cuStreamSynchronize could not be called", t);
        }
    }

    static int toDeviceAsync(long dst, long hostSrc, long bytes, long stream) {
        try {
            return (int) COPY_TO_DEVICE_ASYNC.invokeExact(dst, hostSrc, bytes, stream);
        } catch (Throwable t) {
            throw new IllegalStateException("cuMemcpyHtoDAsync could not be called", t);
        }
    }

    static int deviceToDeviceAsync(long dst, long src, long bytes, long stream) {
        try {
            return (int) COPY_DEVICE_ASYNC.invokeExact(dst, src, bytes, stream);
        } catch (Throwable t) {
            throw new IllegalStateException("cuMemcpyDtoDAsync could not be called", t);
        }
    }

    static int zeroAsync(long dst, long bytes, long stream) {
        try {
            return (int) MEMSET_D8_ASYNC.invokeExact(dst, (byte) 0, bytes, stream);
        } catch (Throwable t) {
            throw new IllegalStateException("cuMemsetD8Async could not be called", t);
        }
    }

    static int toHostAsync(long hostDst, long src, long bytes, long stream) {
        try {
            return (int) COPY_TO_HOST_ASYNC.invokeExact(hostDst, src, bytes, stream);
        } catch (Throwable t) {
            throw new IllegalStateException("cuMemcpyDtoHAsync could not be called", t);
        }
    }
}
