package tern.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Device allocations kept for reuse by size, so a training step's hundreds of activation tensors cost no
 * cuMemAlloc and cuMemFree (cuMemFree waits for the whole device: each one drained the queue the host had
 * built up, and a step freed hundreds at its tape's close). Reuse is safe without events because every
 * kernel, memset, copy and cuBLAS call runs in issue order on the one default stream: whatever a freed
 * block's last user issued runs before anything its next user issues. Sizes are rounded up to 512 bytes;
 * a step that repeats its shapes finds its blocks again. When an allocation fails, the kept blocks are
 * freed and it is tried once more. While a step is captured as a CUDA graph, its tensors come from the
 * blocks kept here and then belong to the graph ({@link StepRecorder}) until it is closed.
 */
final class DevicePool {
    private static final long GRAIN = 512;

    private final CudaContext context;
    private final Map<Long, ArrayDeque<DevicePointer>> idle = new HashMap<>();
    private long idleBytes;
    private long inUse, peakInUse, peakHeld;      // bytes in tensors now; the largest in tensors, and in tensors + kept

    DevicePool(CudaContext context) {
        this.context = context;
    }

    static long rounded(long bytes) {
        return (Math.max(bytes, 1) + GRAIN - 1) / GRAIN * GRAIN;
    }

    synchronized DevicePointer take(long bytes) {
        long size = rounded(bytes);
        StepRecorder r = context.recorder();
        if (r != null) return r.take(size);        // a step captured as a graph: its blocks (StepRecorder)
        DevicePointer p = reuseOrAllocate(size);
        inUse += size;
        peakInUse = Math.max(peakInUse, inUse);
        peakHeld = Math.max(peakHeld, inUse + idleBytes);
        return p;
    }

    private DevicePointer reuseOrAllocate(long size) {
        ArrayDeque<DevicePointer> kept = idle.get(size);
        if (kept != null && !kept.isEmpty()) {
            idleBytes -= size;
            return kept.pop();
        }
        try {
            return context.allocate(size);
        } catch (IllegalStateException outOfMemory) {
            if (idleBytes == 0) throw outOfMemory;
            releaseIdle();
            return context.allocate(size);
        }
    }

    /** Bytes in tensors now. */
    synchronized long inUseBytes() { return inUse; }

    /** {largest bytes in tensors, largest bytes in tensors + kept for reuse} since the last reset. */
    synchronized long[] peaks() { return new long[] {peakInUse, peakHeld}; }

    synchronized void resetPeaks() {
        peakInUse = inUse;
        peakHeld = inUse + idleBytes;
    }

    /** A kept block of {@code size} bytes (rounded), counted as in use, or null when none is kept: no driver call. */
    synchronized DevicePointer takeKept(long size) {
        ArrayDeque<DevicePointer> kept = idle.get(size);
        if (kept == null || kept.isEmpty()) return null;
        idleBytes -= size;
        inUse += size;
        peakInUse = Math.max(peakInUse, inUse);
        return kept.pop();
    }

    synchronized void give(DevicePointer p, long bytes) {
        long size = rounded(bytes);
        StepRecorder r = context.recorder();
        if (r != null) {
            r.give(p, size);
            return;
        }
        inUse -= size;
        idle.computeIfAbsent(size, s -> new ArrayDeque<>()).push(p);
        idleBytes += size;
    }

    /** Bytes held for reuse (not in any tensor). */
    synchronized long idleBytes() { return idleBytes; }

    /** Frees every kept block (the device finishes its work first: cuMemFree waits for it). */
    synchronized void releaseIdle() {
        for (ArrayDeque<DevicePointer> kept : idle.values())
            for (DevicePointer p : kept) context.free(p);
        idle.clear();
        idleBytes = 0;
    }
}
