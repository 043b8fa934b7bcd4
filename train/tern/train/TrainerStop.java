package tern.train;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A request to stop training at the next step boundary, after saving a checkpoint. Ctrl-C reaches it
 * through a JVM shutdown hook ({@link #onShutdown}): the hook raises the flag, then waits for the trainer
 * to finish its step and save, so the JVM does not exit halfway through a checkpoint. Tests raise the flag
 * directly with {@link #request}.
 */
public final class TrainerStop {
    /** How long the shutdown hook waits for the step in flight and the checkpoint. */
    private static final long HOOK_WAIT_SECONDS = 300;

    private volatile boolean requested;
    private final CountDownLatch finished = new CountDownLatch(1);
    private Thread hook;

    public boolean requested() { return requested; }

    public void request() { requested = true; }

    /** Installs the Ctrl-C hook; {@link #finished()} removes it again when training ends normally. */
    public TrainerStop onShutdown() {
        hook = new Thread(() -> {
            requested = true;
            try {
                finished.await(HOOK_WAIT_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "tern-train-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        return this;
    }

    /** Training is over (saved, failed or done): a waiting hook may let the JVM exit. */
    public void finished() {
        finished.countDown();
        if (hook != null && !requested) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is already exiting; the hook has been released by the count-down above
            }
        }
    }
}
