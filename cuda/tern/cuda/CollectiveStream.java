package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The stream that collectives run on, beside the compute stream (the legacy default stream every Tern
 * kernel and cuBLAS call uses). It is created non-blocking, so it does not synchronize with the default
 * stream by itself: the two are ordered only by events, never by host waits, and communication overlaps
 * compute where the caller's order allows.
 * <ul>
 *   <li>{@link #waitForCompute()}: collectives enqueued after this see everything issued to the compute
 *       stream before it (the gradients they reduce are complete);</li>
 *   <li>{@link #computeWaitsForCollectives()}: compute issued after this sees every collective enqueued
 *       before it (the reduced values are there before the optimizer reads them).</li>
 * </ul>
 */
public final class CollectiveStream implements AutoCloseable {
    private static final int STREAM_NON_BLOCKING = 1, EVENT_DISABLE_TIMING = 2;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup CUDA = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
    private static final MethodHandle STREAM_CREATE = handle("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle STREAM_DESTROY = handle("cuStreamDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle STREAM_SYNC = handle("cuStreamSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle STREAM_WAIT_EVENT = handle("cuStreamWaitEvent", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle EVENT_CREATE = handle("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle EVENT_DESTROY = handle("cuEventDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle EVENT_RECORD = handle("cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));

    private final CudaBackend backend;
    private final MemorySegment stream, computeDone, collectivesDone;
    private boolean closed;

    private static MethodHandle handle(String name, FunctionDescriptor d) {
        return LINKER.downcallHandle(CUDA.find(name).orElseThrow(() -> new IllegalStateException("libcuda.so.1 lacks " + name)), d);
    }

    /** A new collective stream in {@code backend}'s context. */
    public CollectiveStream(CudaBackend backend) {
        this.backend = backend;
        backend.context().makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ADDRESS);
            check(call(STREAM_CREATE, slot, STREAM_NON_BLOCKING), "cuStreamCreate");
            stream = slot.get(ADDRESS, 0);
            check(call(EVENT_CREATE, slot, EVENT_DISABLE_TIMING), "cuEventCreate");
            computeDone = slot.get(ADDRESS, 0);
            check(call(EVENT_CREATE, slot, EVENT_DISABLE_TIMING), "cuEventCreate");
            collectivesDone = slot.get(ADDRESS, 0);
        }
    }

    MemorySegment handle() { return stream; }

    /** Later collectives on this stream start after the compute stream's work issued so far. */
    public void waitForCompute() {
        backend.context().makeCurrent();
        check(call(EVENT_RECORD, computeDone, MemorySegment.NULL), "cuEventRecord(compute)");
        check(call(STREAM_WAIT_EVENT, stream, computeDone, 0), "cuStreamWaitEvent(collectives)");
    }

    /** Later compute starts after the collectives enqueued so far. */
    public void computeWaitsForCollectives() {
        backend.context().makeCurrent();
        check(call(EVENT_RECORD, collectivesDone, stream), "cuEventRecord(collectives)");
        check(call(STREAM_WAIT_EVENT, MemorySegment.NULL, collectivesDone, 0), "cuStreamWaitEvent(compute)");
    }

    /** Blocks the host until this stream's work is done (tests, shutdown; never inside a step). */
    public void synchronize() {
        backend.context().makeCurrent();
        check(call(STREAM_SYNC, stream), "cuStreamSynchronize");
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void check(int result, String what) {
        if (result != 0) throw new IllegalStateException(what + " failed: " + DriverLaunch.describe(result));
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        synchronize();
        call(EVENT_DESTROY, computeDone);
        call(EVENT_DESTROY, collectivesDone);
        call(STREAM_DESTROY, stream);
    }
}
