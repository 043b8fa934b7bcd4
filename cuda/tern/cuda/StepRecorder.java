package tern.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * What one training step issued, recorded while it was captured into a CUDA graph ({@link CudaStepGraph}),
 * and the check of a later step against it. While a recorder is installed on the context
 * ({@link CudaContext#recorder}), every stream-ordered thing the backend does comes here instead of going
 * to the default stream:
 * <ul>
 *   <li>kernel launches, cuBLAS products, memsets and device copies: captured on the graph's stream
 *       (capture) or compared, every argument bit, with what was captured (check);</li>
 *   <li>host-to-device copies of small host arrays (token ids, targets, pointer tables): staged in pinned
 *       memory, which the graph copies from at every replay, so these are the step's inputs;</li>
 *   <li>the read-backs of results (loss rows, gradient sums): copies into pinned memory that the graph
 *       makes, read by a supplier once the replay is done;</li>
 *   <li>tensor memory: during capture, blocks kept idle by the backend's pool, which the graph then owns
 *       (nothing else may be handed them while it lives); in a check, the same blocks in the same order.</li>
 * </ul>
 * Anything else (a synchronous read, an allocation from the driver, a synchronize, a copy from other host
 * memory) is refused: the capture fails, or the check reports the step changed, and the step runs eagerly.
 * A check issues nothing to the device, so a step that differs is caught before any of it ran.
 */
final class StepRecorder {
    /** A step that does not match the recorded one, or a body that breaks a capture rule. */
    static final class Refused extends RuntimeException {
        Refused(String message) {
            super(message, null, false, false);
        }
    }

    private static final long KERNEL = 1, GEMM = 2, ZERO = 3, COPY = 4, UPLOAD = 5, READ = 6;
    private static final long ALIGN = 16;

    private final CudaGraphStream stream;
    private final DevicePool pool;
    private boolean capturing;                    // else checking
    private final List<long[]> ops = new ArrayList<>();
    private final List<String> names = new ArrayList<>();        // what each op was, for the message of a mismatch
    private int cursor;
    private long hostAt;                          // pinned bytes staged so far in this pass
    // memory: every take of the capture in order; the blocks the graph owns
    private final List<DevicePointer> takes = new ArrayList<>();
    private final List<Long> takeSizes = new ArrayList<>();
    private int takeCursor;
    private final Map<Long, ArrayDeque<DevicePointer>> idle = new HashMap<>();   // capture: freed inside the body
    private final Set<Long> taken = new HashSet<>();                             // capture: addresses handed out
    private final List<DevicePointer> owned = new ArrayList<>();
    private final List<Long> ownedSizes = new ArrayList<>();
    private int live;
    private long pass;                            // which pass suppliers belong to
    private long readyPass = -1;                  // the pass whose replay has finished

    StepRecorder(CudaGraphStream stream, DevicePool pool) {
        this.stream = stream;
        this.pool = pool;
        this.capturing = true;
    }

    boolean capturing() { return capturing; }

    long streamHandle() { return stream.handle(); }

    /** Ops recorded (kernels, products, memsets, copies). */
    int size() { return ops.size(); }

    /** Bytes of device memory the graph holds. */
    long ownedBytes() {
        long b = 0;
        for (long s : ownedSizes) b += s;
        return b;
    }

    /** Bytes of pinned memory a pass stages (inputs and results). */
    long hostBytes() { return hostAt; }

    // ---- passes -------------------------------------------------------------------------------------

    /** The capture ran to its end: every tensor it made is freed again, or the graph would share its memory. */
    void endCapture() {
        if (live != 0)
            throw new Refused(live + " tensor(s) made inside the step outlive it (only the step's own temporaries may be made inside)");
    }

    /** Starts checking a step against the capture (after at least one replay of it). */
    void beginCheck() {
        capturing = false;
        cursor = 0;
        takeCursor = 0;
        hostAt = 0;
        pass++;
    }

    void endCheck() {
        if (cursor != ops.size()) throw new Refused("the step issued " + cursor + " of the " + ops.size() + " operations captured");
        if (takeCursor != takes.size()) throw new Refused("the step made " + takeCursor + " of the " + takes.size() + " tensors captured");
    }

    /** The replay of the current pass finished: its suppliers may read. */
    void ready() { readyPass = pass; }

    /** Gives the blocks the graph owned back to the pool (the graph is gone). */
    void release() {
        for (int i = 0; i < owned.size(); i++) pool.give(owned.get(i), ownedSizes.get(i));
        owned.clear();
        ownedSizes.clear();
    }

    Refused refuse(String what) {
        return new Refused(what + " inside a step captured as a CUDA graph");
    }

    // ---- operations ---------------------------------------------------------------------------------

    /** True when the caller must issue the op now (capture, onto {@link #streamHandle}); false in a check (it matched). */
    private boolean op(long[] signature, String name) {
        if (capturing) {
            ops.add(signature);
            names.add(name);
            return true;
        }
        if (cursor >= ops.size())
            throw new Refused("the step issued more than the " + ops.size() + " operations captured (" + name + ")");
        long[] want = ops.get(cursor);
        if (!Arrays.equals(want, signature))
            throw new Refused("operation " + cursor + " differs: " + name + " " + Arrays.toString(signature) + ", captured "
                    + names.get(cursor) + " " + Arrays.toString(want));
        cursor++;
        return false;
    }

    void kernel(KernelFunction f, String name, int gx, int gy, int gz, int threads, int shared, boolean programmatic, KernelArgs args) {
        int n = args.count();
        long[] sig = new long[8 + n];
        sig[0] = KERNEL;
        sig[1] = f.handle();
        sig[2] = gx;
        sig[3] = gy;
        sig[4] = gz;
        sig[5] = threads;
        sig[6] = shared;
        sig[7] = programmatic ? 1 : 0;
        for (int i = 0; i < n; i++) sig[8 + i] = args.bits(i);
        if (!op(sig, name)) return;
        int rc = programmatic
                ? DriverLaunch.launchProgrammatic(f, gx, gy, gz, threads, shared, stream.handle(), args)
                : DriverLaunch.launch(f, gx, gy, gz, threads, 1, 1, shared, stream.handle(), args);
        if (rc != 0) throw new Refused("capturing kernel " + name + " failed: " + DriverLaunch.describe(rc));
    }

    /** A cuBLAS call by its arguments; true when the caller must make it (capture: the handle is on the graph's stream). */
    boolean gemm(String name, long... arguments) {
        long[] sig = new long[1 + arguments.length];
        sig[0] = GEMM;
        System.arraycopy(arguments, 0, sig, 1, arguments.length);
        return op(sig, name);
    }

    void zero(long dst, long bytes) {
        if (!op(new long[] {ZERO, dst, bytes}, "memset") || bytes == 0) return;
        CudaGraphDriver.check(CudaGraphDriver.zeroAsync(dst, bytes, stream.handle()), "cuMemsetD8Async (capture)");
    }

    void copy(long dst, long src, long bytes) {
        if (!op(new long[] {COPY, dst, src, bytes}, "device copy") || bytes == 0) return;
        CudaGraphDriver.check(CudaGraphDriver.deviceToDeviceAsync(dst, src, bytes, stream.handle()), "cuMemcpyDtoDAsync (capture)");
    }

    /** An input: {@code bytes} of {@code src} (a heap array's segment) to device address {@code dst}, staged now. */
    void upload(long dst, MemorySegment src, long bytes) {
        long at = stage(bytes);
        boolean issue = op(new long[] {UPLOAD, dst, bytes, at}, "host copy");
        MemorySegment.copy(src, 0, stream.host(), at, bytes);
        if (issue && bytes > 0) stream.toDevice(dst, at, bytes);
    }

    /** A result: {@code bytes} at device address {@code src}, copied to pinned memory by the graph; readable after the replay. */
    Supplier<MemorySegment> read(long src, long bytes) {
        long at = stage(bytes);
        if (op(new long[] {READ, src, bytes, at}, "read-back") && bytes > 0) stream.toHost(src, at, bytes);
        long mine = pass;
        MemorySegment slot = stream.host().asSlice(at, bytes);
        return () -> {
            if (readyPass != mine) throw new IllegalStateException("a replayed step's result was read before its replay finished");
            return slot;
        };
    }

    private long stage(long bytes) {
        long at = (hostAt + ALIGN - 1) / ALIGN * ALIGN;
        if (at + bytes > stream.host().byteSize())
            throw new Refused("staging " + (at + bytes) + " bytes of inputs and results (pinned buffer of " + stream.host().byteSize() + ")");
        hostAt = at + bytes;
        return at;
    }

    // ---- memory -------------------------------------------------------------------------------------

    DevicePointer take(long size) {
        if (!capturing) {
            if (takeCursor >= takes.size() || takeSizes.get(takeCursor) != size)
                throw new Refused("tensor " + takeCursor + " of the step is " + size + " bytes, captured "
                        + (takeCursor < takes.size() ? takeSizes.get(takeCursor) + " bytes" : "none"));
            return takes.get(takeCursor++);
        }
        ArrayDeque<DevicePointer> kept = idle.get(size);
        DevicePointer p = kept != null && !kept.isEmpty() ? kept.pop() : null;
        if (p == null) {
            p = pool.takeKept(size);
            if (p == null) throw new Refused("a tensor of " + size + " bytes that the pool does not keep (the step's shapes had not run eagerly)");
            owned.add(p);
            ownedSizes.add(size);
        }
        takes.add(p);
        takeSizes.add(size);
        taken.add(p.address());
        live++;
        return p;
    }

    void give(DevicePointer p, long size) {
        if (!taken.contains(p.address())) throw refuse("freeing a tensor made before the step");
        if (!capturing) return;                 // a check: the blocks stay the graph's
        idle.computeIfAbsent(size, s -> new ArrayDeque<>()).push(p);
        live--;
    }

    /** Reads n floats of a result segment. */
    static float[] floats(MemorySegment s, int n) {
        float[] out = new float[n];
        MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, out, 0, n);
        return out;
    }

    static double[] doubles(MemorySegment s, int n) {
        double[] out = new double[n];
        MemorySegment.copy(s, ValueLayout.JAVA_DOUBLE, 0, out, 0, n);
        return out;
    }
}
