package tern.train;

/**
 * A non-finite loss or gradient: training stops in the step where it appears, before the update, so the
 * weights and the last checkpoint stay the last good state. The message names the step and, for a
 * gradient, the first parameter (in Hugging Face order) whose gradient holds a NaN or infinity.
 */
public final class TrainingDiverged extends RuntimeException {
    private final long step;
    private final String parameter;

    public TrainingDiverged(long step, String what, String parameter) {
        super("training diverged at step " + step + ": " + what
                + (parameter != null ? " (first bad gradient: " + parameter + ")" : ""));
        this.step = step;
        this.parameter = parameter;
    }

    /** The 1-based step whose loss or gradients went bad (its update was not applied). */
    public long step() { return step; }

    /** The first parameter with a non-finite gradient, or null when the loss itself was non-finite. */
    public String parameter() { return parameter; }
}
