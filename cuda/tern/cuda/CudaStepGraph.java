package tern.cuda;

import java.util.Locale;

import tern.runtime.StepReplay;

/**
 * A training step (the trainer's gradient zeroing, forward, backward and gradient norm) captured once as a
 * {@link CudaGraph} and replayed while it repeats: one driver call instead of a launch per kernel, product,
 * memset and copy (hundreds to thousands a step), which is what bounds small shapes.
 *
 * <p>How one graph serves every step, and why a replay gives the eager step's bits:
 * <ul>
 *   <li>The first step of a shape runs eagerly: its tensors' blocks go back to the backend's pool. The
 *       second is captured ({@link StepRecorder}): the same Java code runs, its launches are recorded on this
 *       graph's stream, and its tensors take those kept blocks, which the graph then owns.</li>
 *   <li>Every later step runs the same Java code once more as a check, issuing nothing: each launch's
 *       kernel, grid and argument bits, each product, memset and copy, and each tensor's size must be the
 *       captured one. Only then is the graph replayed; anything that differs (a new shape, another loss
 *       scale, a different number of counted targets) makes that step run eagerly and the next be captured
 *       again. The graph so replays exactly the launches the eager step would have made.</li>
 *   <li>What changes from step to step without changing a launch (token ids, targets, the embedding
 *       backward's grouping of positions) is uploaded from host arrays: the check stages those bytes in
 *       pinned memory, from which the graph's copies read.</li>
 *   <li>Results the host reads (the chunks' row losses, the gradients' sums of squares) are copied by the
 *       graph into pinned memory and read through suppliers after the replay, by the same code as eagerly.</li>
 *   <li>cuBLAS runs on the graph's stream with a fixed workspace, which eager products then use too, so
 *       both choose the same algorithms.</li>
 * </ul>
 * The update itself (clipping, AdamW) stays eager on the default stream after the replay: its learning rate,
 * weight decay, clip factor and bias correction change every step, and it is one or two launches.
 * The step graph is opt-in ({@code -Dtern.cuda.trainGraph=true}, {@link tern.train.Trainer#useStepGraph}).
 */
final class CudaStepGraph implements StepReplay {
    /** Graphs discarded after at most one replay before the step graph gives up (a step that never repeats); failed captures: 2. */
    private static final int SHORT_LIVED_LIMIT = 3;
    private static final long MAX_HOST_BYTES = 1L << 28;

    private final CudaBackend backend;
    private final CudaContext context;
    private final DevicePool pool;
    private CudaGraphStream stream;
    private long hostBytes = 1L << 20;
    private CudaGraph graph;
    private StepRecorder recorder;
    private boolean warm;                  // a step of the current shape ran eagerly: the pool keeps its blocks
    private boolean disabled, closed;
    private int replaysOfThisGraph, shortLived, failedCaptures;
    private long replays, captures, eager;
    private String lastFallback;

    CudaStepGraph(CudaBackend backend, DevicePool pool) {
        this.backend = backend;
        this.context = backend.context();
        this.pool = pool;
        this.stream = new CudaGraphStream(context, hostBytes);
    }

    @Override
    public boolean run(Runnable body) {
        if (closed || disabled || backend.kernels().profile.on()) {   // profiling times launches one by one
            eager++;
            return false;
        }
        if (graph == null) {
            if (!warm) {
                warm = true;
                eager++;
                return false;
            }
            return capture(body);
        }
        return check(body);
    }

    private boolean capture(Runnable body) {
        while (true) {
            StepRecorder r = new StepRecorder(stream, pool);
            CudaGraph g;
            try {
                backend.cublasOn(stream.handle());
                g = CudaGraph.capture(stream, () -> {
                    context.record(r);
                    try {
                        body.run();
                        r.endCapture();
                    } finally {
                        context.record(null);
                    }
                });
            } catch (RuntimeException e) {
                r.release();
                if (staging(e) && hostBytes < MAX_HOST_BYTES) {          // more inputs than the pinned buffer: grow, capture again
                    stream.close();
                    hostBytes *= 8;
                    stream = new CudaGraphStream(context, hostBytes);
                    continue;
                }
                fallBack("could not be captured: " + e.getMessage(), true);
                return false;
            } finally {
                backend.cublasOn(0);
            }
            graph = g;
            recorder = r;
            captures++;
            replaysOfThisGraph = 0;
            replay();
            return true;
        }
    }

    private static boolean staging(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause())
            if (t instanceof StepRecorder.Refused && t.getMessage().startsWith("staging ")) return true;
        return false;
    }

    private boolean check(Runnable body) {
        recorder.beginCheck();
        context.record(recorder);
        try {
            body.run();
            recorder.endCheck();
        } catch (RuntimeException e) {
            context.record(null);
            discard();
            fallBack("changed (" + e.getMessage() + "); this step runs eagerly, the next is captured again", false);
            return false;
        } finally {
            context.record(null);
        }
        replay();
        return true;
    }

    /** The default stream's work first (the last update wrote the weights the graph reads), then the graph. */
    private void replay() {
        context.synchronize();
        graph.launch();
        stream.synchronize();
        recorder.ready();
        replays++;
        replaysOfThisGraph++;
    }

    private void discard() {
        if (graph != null) {
            if (replaysOfThisGraph <= 1 && ++shortLived >= SHORT_LIVED_LIMIT) disabled = true;
            graph.close();
            graph = null;
        }
        if (recorder != null) {
            recorder.release();
            recorder = null;
        }
        warm = true;                      // the caller now runs the step eagerly, so the next one may be captured
    }

    private void fallBack(String why, boolean captureFailed) {
        eager++;
        if (captureFailed && ++failedCaptures >= 2) disabled = true;     // the body breaks a capture rule: it will every time
        if (captureFailed) warm = true;   // this step runs eagerly: the next one may try again
        String line = "tern: the training step " + why + (disabled ? "; training without the step graph from now on" : "");
        if (!line.equals(lastFallback)) System.err.println(line);
        lastFallback = line;
    }

    @Override
    public String describe() {
        return String.format(Locale.ROOT, "step graph: %d replays, %d captures, %d eager steps%s%s", replays, captures, eager,
                recorder != null ? String.format(Locale.ROOT, " (graph of %d operations, %.1f MiB of tensors, %d B staged)",
                        recorder.size(), recorder.ownedBytes() / 1048576.0, recorder.hostBytes()) : "",
                disabled ? "; off: " + lastFallback : "");
    }

    /** Replays so far (tests). */
    long replays() { return replays; }

    /** Captures so far (tests). */
    long captures() { return captures; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        discard();
        stream.close();
        backend.forget(this);
    }
}
