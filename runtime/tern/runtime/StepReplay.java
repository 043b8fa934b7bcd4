package tern.runtime;

/**
 * A training step whose launches repeat, recorded once as a graph (CUDA: one graph launch instead of
 * hundreds of kernel launches) and replayed while the step stays the same. The caller hands the same body
 * every step; the body may only read results through the "later" suppliers
 * ({@link Backend#crossEntropyLater}, {@link Backend#sumOfSquaresAllLater}), which are valid once
 * {@link #run} has returned true.
 */
public interface StepReplay extends AutoCloseable {
    /**
     * Runs {@code body} as the step's graph: captured, or checked against the graph already captured (every
     * launch, copy and allocation the same as recorded, only uploaded inputs differing) and replayed. Returns
     * false when it did not (the first step of a shape, a step that changed, a body that breaks a capture
     * rule): nothing of the body reached the device, and the caller runs it eagerly.
     */
    boolean run(Runnable body);

    /** How steps ran so far, for a log line (graph replays, captures, eager fallbacks and why). */
    String describe();

    /** Frees the graph and the device memory it holds; later {@link #run} calls return false. */
    @Override void close();
}
