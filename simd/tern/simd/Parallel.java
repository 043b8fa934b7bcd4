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

    /**
     * Runs body over [0, n) in pieces of {@code grain} iterations (the last one shorter) that the calling
     * thread and {@link #THREADS}−1 helper threads claim one at a time. The caller starts at once and only
     * waits for pieces a helper has already taken, so when the machine is busy and a helper is not
     * scheduled the call costs about the caller's serial time, where {@link #range} would wait for a pool
     * worker; on an idle machine the pieces spread over all threads. Helpers spin for
     * {@link #HELPER_SPIN_NS} after their last piece before they park, so the ~100 short calls of a decode
     * step reach them without a wake-up system call each. Piece boundaries depend only on n and grain,
     * and a piece's result not on the thread that runs it.
     */
    public static void shared(int n, int grain, Range body) {
        int pieces = (int) ((n + (long) grain - 1) / Math.max(1, grain));
        boolean nested = Thread.currentThread() instanceof java.util.concurrent.ForkJoinWorkerThread w && w.getPool() == POOL
                || Thread.currentThread() instanceof Helper;
        if (pieces <= 1 || THREADS < 2 || nested) {
            body.run(0, n);
            return;
        }
        Claims c = new Claims(body, n, Math.max(1, grain), pieces);
        Helper.offer(c);
        c.work();
        long clock = OpClock.start();
        c.await();
        OpClock.stop(OpClock.Kind.SHARED_WAIT, clock);
    }

    /** How long a helper keeps looking for the next {@link #shared} call before it parks. */
    static final long HELPER_SPIN_NS = 500_000;

    /** A daemon thread that runs pieces of the latest {@link #shared} call. */
    private static final class Helper extends Thread {
        private static final Helper[] ALL = startAll();
        private static volatile Claims current;
        private volatile boolean parked;

        private static Helper[] startAll() {
            Helper[] h = new Helper[Math.max(0, THREADS - 1)];
            for (int i = 0; i < h.length; i++) {
                h[i] = new Helper();
                h[i].setName("tern-helper-" + i);
                h[i].setDaemon(true);
                h[i].start();
            }
            return h;
        }

        /** Publishes a call's pieces and wakes the helpers that parked (a spinning one sees it by itself). */
        static void offer(Claims c) {
            current = c;
            for (Helper h : ALL) if (h.parked) java.util.concurrent.locks.LockSupport.unpark(h);
        }

        @Override
        public void run() {
            Claims last = null;
            long idleSince = System.nanoTime();
            while (true) {
                Claims c = current;
                if (c != null && c != last) {
                    last = c;
                    c.work();
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < HELPER_SPIN_NS) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    // Re-checked after announcing the park: offer() either sees parked or we see its call.
                    if (current == c) java.util.concurrent.locks.LockSupport.park(this);
                    parked = false;
                    idleSince = System.nanoTime();
                }
            }
        }
    }

    /** The shared state of one {@link #shared} call: the next unclaimed piece and the finished count. */
    private static final class Claims {
        private final Range body;
        private final int n, grain, pieces;
        private final java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        private final java.util.concurrent.atomic.AtomicInteger finished = new java.util.concurrent.atomic.AtomicInteger();
        private volatile Throwable failure;

        Claims(Range body, int n, int grain, int pieces) {
            this.body = body; this.n = n; this.grain = grain; this.pieces = pieces;
        }

        /** Runs unclaimed pieces until none is left (a helper that comes late finds none and returns). */
        void work() {
            for (int p; (p = next.getAndIncrement()) < pieces; ) {
                try {
                    body.run(p * grain, (int) Math.min(n, (long) (p + 1) * grain));
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                } finally {
                    finished.incrementAndGet();
                }
            }
        }

        /** Waits for the pieces other threads took (spinning: they are microseconds), then rethrows a failure. */
        void await() {
            for (int spins = 0; finished.get() < pieces; spins++) {
                if (spins < 4096) Thread.onSpinWait();
                else Thread.yield();   // the helper holding a piece was descheduled: give it the CPU
            }
            Throwable t = failure;
            if (t instanceof RuntimeException e) throw e;
            if (t instanceof Error e) throw e;
            if (t != null) throw new IllegalStateException(t);
        }
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
