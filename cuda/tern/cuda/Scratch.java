package tern.cuda;

import jcuda.Pointer;

/**
 * One growable device buffer for an op's small temporaries (ids, per-row losses, reduction results,
 * scales). Ops run in issue order on one stream and read results back synchronously, so the next op may
 * reuse the buffer; an op asks once for all the room it needs and carves it. Growing waits for the work
 * in flight, frees the old buffer and allocates twice the size, so growth is rare.
 */
final class Scratch implements AutoCloseable {
    private final CudaContext context;
    private DevicePointer buffer;
    private long capacity;

    Scratch(CudaContext context) {
        this.context = context;
    }

    /** The address of at least {@code bytes} of scratch (contents undefined). */
    long reserve(long bytes) {
        if (bytes > capacity || buffer == null) {
            if (buffer != null) {
                context.synchronize();            // kernels issued earlier may still read the old buffer
                context.free(buffer);
            }
            capacity = Math.max(Math.max(bytes, 2 * capacity), 1 << 16);
            buffer = context.allocate(capacity);
        }
        return buffer.address();
    }

    long zeroed(long bytes) {
        long a = reserve(bytes);
        context.zero(buffer, Math.max(bytes, 1));
        return a;
    }

    long upload(float[] values) {
        long a = reserve(4L * values.length);
        if (values.length > 0) context.toDevice(buffer, values, 4L * values.length);
        return a;
    }

    long upload(int[] values) {
        long a = reserve(4L * values.length);
        if (values.length > 0) context.toDevice(buffer, values, 4L * values.length);
        return a;
    }

    void toDevice(int[] src, long offset, long bytes) {
        context.toDevice(buffer.plus(offset), src, bytes);
    }

    void toDevice(long[] src, long offset, long bytes) {
        context.toDevice(buffer.plus(offset), src, bytes);
    }

    /** The buffer's device address (valid until the next {@link #reserve} that grows it). */
    long address() { return buffer.address(); }

    void toHost(Pointer dst, long offset, long bytes) {
        context.toHost(dst, buffer.plus(offset), bytes);
    }

    @Override
    public void close() {
        if (buffer != null) context.free(buffer);
        buffer = null;
        capacity = 0;
    }
}
