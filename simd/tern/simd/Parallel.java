package tern.simd;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * The CPU backend's one fixed pool of worker threads. Kernels split their outer loop into contiguous
 * chunks with {@link #range}; no thread is created per call. Work below {@code minChunk} iterations per
 * thread stays on the calling thread, because a fork costs microseconds.
 */
public final class Parallel {
    /** Threads used by kernels: -Dtern.threads=N, else the available processors. */
    public static final int THREADS = Integer.getInteger("tern.threads", Runtime.getRuntime().availableProcessors());

    private static final ForkJoinPool POOL = THREADS > 1 ? new ForkJoinPool(THREADS) : null;

    /** The body of a parallel loop over [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    private Parallel() {}

    /**
     * Runs body over [0, n) split into at most {@link #THREADS} contiguous chunks of at least
     * {@code minChunk} iterations; returns when every chunk is done. Chunk boundaries depend only on n,
     * minChunk and THREADS, so results are reproducible run to run.
     */
    public static void range(int n, int minChunk, Range body) {
        int chunks = Math.min(THREADS, Math.max(1, n / Math.max(1, minChunk)));
        // A kernel called from inside a worker (nested parallelism) runs serially instead of deadlocking.
        boolean nested = Thread.currentThread() instanceof java.util.concurrent.ForkJoinWorkerThread w && w.getPool() == POOL;
        if (chunks <= 1 || POOL == null || nested) {
            body.run(0, n);
            return;
        }
        POOL.invoke(new Chunks(body, n, chunks, 0, chunks));
    }

    /** Same as {@link #range} over chunks of a fixed count; chunk c covers [c·n/chunks, (c+1)·n/chunks). */
    private static final class Chunks extends RecursiveAction {
        private final Range body;
        private final int n, chunks, lo, hi;

        Chunks(Range body, int n, int chunks, int lo, int hi) {
            this.body = body; this.n = n; this.chunks = chunks; this.lo = lo; this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                body.run((int) ((long) lo * n / chunks), (int) ((long) (lo + 1) * n / chunks));
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Chunks(body, n, chunks, lo, mid), new Chunks(body, n, chunks, mid, hi));
        }
    }
}
