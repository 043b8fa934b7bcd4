package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A non-blocking CUDA stream with a pinned host buffer: what a captured graph is recorded on and replayed
 * on. The legacy default stream, where {@link CudaBackend} issues everything, cannot be captured; a
 * non-blocking stream does not synchronize with it implicitly, so work meant for a graph goes here and the
 * caller orders the two streams itself (synchronize the context before, {@link #synchronize} after).
 * Small per-step inputs (token ids, positions, KV-cache addresses) are staged in the pinned buffer and copied
 * asynchronously, so a step costs no synchronous copy.
 */
final class CudaGraphStream implements AutoCloseable {
    private final CudaContext context;
    private final long handle;
    private final long hostBytes;
    private final MemorySegment host;      // pinned (cuMemAllocHost), hostBytes long
    private boolean closed;

    CudaGraphStream(CudaContext context, long hostBytes) {
        this.context = context;
        context.makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
            CudaGraphDriver.check(CudaGraphDriver.call(CudaGraphDriver.STREAM_CREATE, out, CudaGraphDriver.STREAM_NON_BLOCKING), "cuStreamCreate");
            handle = out.get(ValueLayout.JAVA_LONG, 0);
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            int rc = CudaGraphDriver.call(CudaGraphDriver.HOST_ALLOC, p, Math.max(64, hostBytes));
            if (rc != 0) {
                CudaGraphDriver.call(CudaGraphDriver.STREAM_DESTROY, handle);
                CudaGraphDriver.check(rc, "cuMemAllocHost of " + hostBytes + " bytes");
            }
            this.hostBytes = Math.max(64, hostBytes);
            host = p.get(ValueLayout.ADDRESS, 0).reinterpret(this.hostBytes);
        }
    }

    long handle() { return handle; }

    CudaContext context() { return context; }

    /** The pinned host buffer (stage inputs here before {@link #toDevice}, read results after {@link #synchronize}). */
    MemorySegment host() { return host; }

    /** Copies host()[offset, offset + bytes) to device address {@code dst}, in stream order. */
    void toDevice(long dst, long offset, long bytes) {
        checkRange(offset, bytes);
        CudaGraphDriver.check(CudaGraphDriver.toDeviceAsync(dst, host.address() + offset, bytes, handle), "cuMemcpyHtoDAsync");
    }

    /** Copies {@code bytes} from device address {@code src} to host()[offset, …), in stream order. */
    void toHost(long src, long offset, long bytes) {
        checkRange(offset, bytes);
        CudaGraphDriver.check(CudaGraphDriver.toHostAsync(host.address() + offset, src, bytes, handle), "cuMemcpyDtoHAsync");
    }

    private void checkRange(long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > hostBytes)
            throw new IllegalArgumentException("pinned buffer range [" + offset + ", " + (offset + bytes) + ") outside its " + hostBytes + " bytes");
    }

    /** Waits for everything issued to this stream. */
    void synchronize() {
        context.makeCurrent();
        CudaGraphDriver.check(CudaGraphDriver.streamSynchronize(handle), "cuStreamSynchronize");
    }

    /** True while a capture is recording this stream. */
    boolean capturing() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment status = a.allocate(ValueLayout.JAVA_INT);
            CudaGraphDriver.check(CudaGraphDriver.call(CudaGraphDriver.IS_CAPTURING, handle, status), "cuStreamIsCapturing");
            return status.get(ValueLayout.JAVA_INT, 0) == CudaGraphDriver.CAPTURE_STATUS_ACTIVE;
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        CudaGraphDriver.call(CudaGraphDriver.STREAM_SYNCHRONIZE, handle);
        CudaGraphDriver.call(CudaGraphDriver.HOST_FREE, host.address());
        CudaGraphDriver.call(CudaGraphDriver.STREAM_DESTROY, handle);
    }
}
