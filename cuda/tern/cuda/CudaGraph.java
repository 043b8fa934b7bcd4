package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A CUDA graph recorded by stream capture and instantiated once, replayed with one driver call: a whole
 * decode step (hundreds of kernels) then costs one launch instead of one per kernel, which is what bounded
 * batch-1 decode on the GPU (host launch overhead, not the GPU).
 *
 * <p>The rules a captured body must keep, since the graph replays the recorded kernels with the recorded
 * arguments and nothing else:
 * <ul>
 *   <li>every kernel goes to the capture stream ({@link CudaBackend#launchOn}); nothing to the legacy
 *       default stream, and no synchronization or host read inside the body;</li>
 *   <li>no allocation inside the body (capture mode THREAD_LOCAL makes the driver refuse cuMemAlloc and
 *       synchronous copies from this thread): every buffer the body touches is allocated before and
 *       outlives the graph, at a fixed address;</li>
 *   <li>whatever changes between replays (token ids, positions, KV lengths, KV-cache addresses) is read by
 *       the kernels from device memory, which the caller rewrites before each replay (async copies on the
 *       same stream), never passed as a kernel argument.</li>
 * </ul>
 * A body that breaks a rule makes {@link #capture} throw {@link CudaGraphException}; the caller then runs
 * the same body eagerly on the stream.
 */
final class CudaGraph implements AutoCloseable {
    private final CudaGraphStream stream;
    private final long graph, exec;
    private final long nodes;
    private boolean closed;

    private CudaGraph(CudaGraphStream stream, long graph, long exec, long nodes) {
        this.stream = stream;
        this.graph = graph;
        this.exec = exec;
        this.nodes = nodes;
    }

    /**
     * Records what {@code body} issues on {@code stream} and instantiates it. The body runs once during
     * capture, but its kernels do not execute then: only replays execute them.
     */
    static CudaGraph capture(CudaGraphStream stream, Runnable body) {
        CudaContext context = stream.context();
        context.makeCurrent();
        context.synchronize();                  // nothing of the default stream may still be in flight into the buffers
        try (Arena a = Arena.ofConfined()) {
            CudaGraphDriver.check(CudaGraphDriver.call(CudaGraphDriver.BEGIN_CAPTURE, stream.handle(),
                    CudaGraphDriver.CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
            RuntimeException failure = null;
            try {
                body.run();
            } catch (RuntimeException e) {
                failure = e;
            }
            MemorySegment g = a.allocate(ValueLayout.JAVA_LONG);
            int end = CudaGraphDriver.call(CudaGraphDriver.END_CAPTURE, stream.handle(), g);
            long graph = g.get(ValueLayout.JAVA_LONG, 0);
            if (failure != null || end != 0) {
                if (graph != 0) CudaGraphDriver.call(CudaGraphDriver.GRAPH_DESTROY, graph);
                if (failure != null) throw new CudaGraphException("capture failed inside the body: " + failure.getMessage(), failure);
                CudaGraphDriver.check(end, "cuStreamEndCapture (the body broke a capture rule)");
            }
            MemorySegment count = a.allocate(ValueLayout.JAVA_LONG);
            CudaGraphDriver.call(CudaGraphDriver.GRAPH_NODES, graph, MemorySegment.NULL, count);
            MemorySegment e = a.allocate(ValueLayout.JAVA_LONG);
            int rc = CudaGraphDriver.call(CudaGraphDriver.INSTANTIATE, e, graph, 0L);
            if (rc != 0) {
                CudaGraphDriver.call(CudaGraphDriver.GRAPH_DESTROY, graph);
                CudaGraphDriver.check(rc, "cuGraphInstantiateWithFlags");
            }
            return new CudaGraph(stream, graph, e.get(ValueLayout.JAVA_LONG, 0), count.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** Replays the graph on its stream (asynchronous: synchronize the stream to see the results). */
    void launch() {
        if (closed) throw new IllegalStateException("the CUDA graph is closed");
        stream.context().makeCurrent();
        CudaGraphDriver.check(CudaGraphDriver.graphLaunch(exec, stream.handle()), "cuGraphLaunch");
    }

    /**
     * GPU nanoseconds per run of {@code work} (kernels issued through {@code backend} onto {@code stream}): a
     * graph of {@code reps} runs back to back, replayed {@code replays} times after one warm replay, so host
     * launch overhead stays out of the figure (kernel timing for benchmarks and for choosing between kernels).
     */
    static double nanosPerRun(CudaBackend backend, CudaGraphStream stream, int reps, int replays, Runnable work) {
        try (CudaGraph g = capture(stream, () -> backend.launchOn(stream.handle(), () -> { for (int i = 0; i < reps; i++) work.run(); }))) {
            g.launch();
            stream.synchronize();
            long t0 = System.nanoTime();
            for (int i = 0; i < replays; i++) g.launch();
            stream.synchronize();
            return (System.nanoTime() - t0) / ((double) replays * reps);
        }
    }

    /** Kernel (and copy) nodes recorded. */
    long nodes() { return nodes; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        stream.context().makeCurrent();
        CudaGraphDriver.call(CudaGraphDriver.STREAM_SYNCHRONIZE, stream.handle());
        CudaGraphDriver.call(CudaGraphDriver.GRAPH_EXEC_DESTROY, exec);
        CudaGraphDriver.call(CudaGraphDriver.GRAPH_DESTROY, graph);
    }
}
