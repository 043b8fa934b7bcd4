package tern.train;

import java.nio.file.Path;
import java.util.Locale;

/**
 * What training does when a step's loss or gradients turn NaN/Inf ({@code tern train --on-nan}). The step is
 * caught before its update in every case ({@link TrainingDiverged} names the step and the first bad gradient).
 * <ul>
 *   <li>{@link #STOP}: the run ends with that message and a non-zero exit; the last checkpoint is the last
 *       good state.</li>
 *   <li>{@link #SKIP}: the batch's update is dropped (its gradients are zeroed at the next step, the
 *       optimizer does not move, the step number stays), the message is printed, and the step is retried on
 *       the next batch. A NaN that every batch meets (a NaN weight) stops the run after
 *       {@link #MAX_RETRIES} tries of one step.</li>
 *   <li>{@link #ROLLBACK}: the newest intact checkpoint is reloaded (weights, moments, sampler, counters),
 *       the steps up to the bad one are replayed exactly, the offending batch is drawn and dropped, and
 *       training continues. With no checkpoint yet, or after {@link #MAX_RETRIES} rollbacks for one step,
 *       it stops like {@link #STOP}.</li>
 * </ul>
 * Skipping and rolling back change the batches the run sees, so its trajectory is no longer the one an
 * uninterrupted clean run would follow; each is reported on the console.
 */
public enum NanPolicy {
    STOP, SKIP, ROLLBACK;

    /** How many times one step may be skipped or rolled back before the run stops after all. */
    public static final int MAX_RETRIES = 5;

    /** Called by the trainer for a step that diverged; returns to continue training, throws to stop. */
    @FunctionalInterface
    public interface Handler {
        void handle(Trainer trainer, TrainingDiverged diverged, Progress progress);
    }

    /** "stop", "skip" or "rollback" (any case). */
    public static NanPolicy parse(String name) {
        try {
            return valueOf(name.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--on-nan must be stop, skip or rollback, not '" + name + "'");
        }
    }

    /** The trainer hook for this policy; null for {@link #STOP} (the trainer then throws). */
    public Handler handler(Path checkpoints) {
        return switch (this) {
            case STOP -> null;
            // the step's batches were drawn and its update was never applied: nothing to undo
            case SKIP -> new Retries(MAX_RETRIES, (t, e, p) -> report(p, e.getMessage() + "; skipping that batch (no update applied)"));
            case ROLLBACK -> new Retries(MAX_RETRIES, (t, e, p) -> Rollback.toLastCheckpoint(t, e, checkpoints, p));
        };
    }

    static void report(Progress progress, String message) {
        if (progress != null) progress.message(message);
        System.err.println("tern train: " + message);
    }

    /** Counts the tries of one step; past the limit the divergence is rethrown and the run stops. */
    private static final class Retries implements Handler {
        private final int limit;
        private final Handler action;
        private long step = -1;
        private int tries;

        Retries(int limit, Handler action) {
            this.limit = limit;
            this.action = action;
        }

        @Override
        public void handle(Trainer trainer, TrainingDiverged diverged, Progress progress) {
            tries = diverged.step() == step ? tries + 1 : 1;
            step = diverged.step();
            if (tries > limit) {
                report(progress, "step " + step + " diverged " + tries + " times in a row; stopping");
                throw diverged;
            }
            action.handle(trainer, diverged, progress);
        }
    }
}
