package tern.serve;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Continuous batching: one thread runs decode steps over the active completions (at most the decoder's
 * max batch). Between two steps, finished and cancelled completions leave (their sequences closed, so a
 * client that disconnected frees its slot at the next boundary) and queued ones join; a step never waits
 * for a whole batch. The queue is bounded: {@link #submit} refuses with 429 when it is full, and with
 * 503 once the server is stopping. Nothing a completion does can end the thread: a failed sequence fails
 * its own request, and an unexpected error fails the active ones and the loop goes on.
 */
final class Scheduler {
    private final StepDecoder decoder;
    private final ArrayBlockingQueue<Completion> queue;
    private final List<Completion> active = new ArrayList<>();
    private final PrintStream log;
    private final Thread thread;
    private volatile boolean accepting = true, cancelAll, running = true;
    private volatile int activeCount;
    final AtomicLong steps = new AtomicLong(), tokens = new AtomicLong(), admitted = new AtomicLong(), completed = new AtomicLong(),
            cancelled = new AtomicLong(), failed = new AtomicLong(), rejected = new AtomicLong();

    Scheduler(StepDecoder decoder, int queueCapacity, PrintStream log) {
        if (queueCapacity < 1) throw new IllegalArgumentException("the queue needs room for at least 1 request, got " + queueCapacity);
        this.decoder = decoder;
        this.queue = new ArrayBlockingQueue<>(queueCapacity);
        this.log = log;
        this.thread = Thread.ofPlatform().name("tern-scheduler").start(this::loop);
    }

    /** Queues a completion, or refuses it: 429 when the queue is full, 503 when the server is stopping. */
    void submit(Completion c) {
        if (!accepting) throw ApiError.unavailable("the server is shutting down");
        if (!queue.offer(c)) {
            rejected.incrementAndGet();
            throw ApiError.busy("the server is busy: " + decoder.maxBatch() + " requests are being served and " + queue.size()
                    + " are waiting (retry later)");
        }
        admitted.incrementAndGet();
        if (!accepting && queue.remove(c)) throw ApiError.unavailable("the server is shutting down");   // raced with stop()
    }

    int active() { return activeCount; }

    int queued() { return queue.size(); }

    int queueCapacity() { return queue.size() + queue.remainingCapacity(); }

    boolean accepting() { return accepting; }

    boolean alive() { return thread.isAlive(); }

    private void loop() {
        while (true) {
            try {
                leave();
                if (!running && active.isEmpty()) break;
                join();
                activeCount = active.size();
                if (active.isEmpty()) {
                    Completion next = queue.poll(50, TimeUnit.MILLISECONDS);
                    if (next != null) admit(next);
                    activeCount = active.size();
                    continue;
                }
                step();
            } catch (InterruptedException e) {
                // only stop() interrupts, and it has set the flags the loop reads
            } catch (Throwable t) {          // a bug or an Error: fail what is active, keep serving
                log.println("tern serve: decode step failed: " + t);
                for (Completion c : active) {
                    c.fail(ApiError.internal("decode step failed: " + t));
                    closeQuietly(c);
                    failed.incrementAndGet();
                }
                active.clear();
            }
        }
        activeCount = 0;
    }

    /** Completions whose client left (or all of them, when the server stops) give their slot back. */
    private void leave() {
        for (int i = active.size() - 1; i >= 0; i--) {
            Completion c = active.get(i);
            if (cancelAll) c.fail(ApiError.unavailable("the server is shutting down; the completion was cut at " + c.produced() + " tokens"));
            else if (!c.cancelled()) continue;
            closeQuietly(c);
            active.remove(i);
            cancelled.incrementAndGet();
        }
    }

    private void join() {
        while (active.size() < decoder.maxBatch() && running) {
            Completion c = queue.poll();
            if (c == null) return;
            admit(c);
        }
    }

    private void admit(Completion c) {
        if (c.cancelled()) {
            cancelled.incrementAndGet();
            return;
        }
        try {
            c.sequence = decoder.open(c.generation.ids(), c.budget(), c.generation.options());
            active.add(c);
        } catch (RuntimeException e) {
            c.fail(ApiError.internal("could not start the sequence: " + e.getMessage()));
            failed.incrementAndGet();
        }
    }

    private void step() {
        List<StepDecoder.Sequence> seqs = new ArrayList<>(active.size());
        for (Completion c : active) seqs.add(c.sequence);
        StepDecoder.Step s = decoder.step(seqs);
        steps.incrementAndGet();
        List<Completion> still = new ArrayList<>(active.size());
        for (int i = 0; i < seqs.size(); i++) {
            Completion c = active.get(i);
            boolean done;
            if (s.failures()[i] != null) {
                c.fail(ApiError.internal("generation failed: " + s.failures()[i].getMessage()));
                failed.incrementAndGet();
                done = true;
            } else {
                tokens.incrementAndGet();
                done = c.accept(s.tokens()[i]);
                if (done) completed.incrementAndGet();
            }
            if (done) closeQuietly(c);
            else still.add(c);
        }
        active.clear();
        active.addAll(still);
    }

    private void closeQuietly(Completion c) {
        if (c.sequence == null) return;
        try {
            decoder.close(c.sequence);
        } catch (RuntimeException e) {
            log.println("tern serve: closing a sequence failed: " + e);
        }
        c.sequence = null;
    }

    /**
     * Stops taking requests (queued ones get 503), lets the active ones finish for up to {@code graceMillis},
     * then cuts the rest (their clients get an error event) and ends the thread.
     */
    void stop(long graceMillis) {
        accepting = false;
        for (Completion c; (c = queue.poll()) != null; ) c.fail(ApiError.unavailable("the server is shutting down"));
        long deadline = System.nanoTime() + graceMillis * 1_000_000;
        while (activeCount > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                break;
            }
        }
        cancelAll = true;
        running = false;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Completion c; (c = queue.poll()) != null; ) c.fail(ApiError.unavailable("the server is shutting down"));
    }
}
