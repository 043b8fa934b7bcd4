package tern.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import tern.checkpoint.CheckpointException;
import tern.checkpoint.CheckpointWriter;

/**
 * Going back to a good checkpoint: the newest one whose files still match their manifest (a damaged latest
 * checkpoint falls back to the one before, with a warning), and the {@link NanPolicy#ROLLBACK} recovery that
 * reloads it into a running trainer.
 */
public final class Rollback {
    private Rollback() {}

    /** What looking for a checkpoint to resume from found: the intact one, if any, and why the others were passed over. */
    public record Search(Optional<Path> found, List<String> damaged, List<String> incomplete) {
        /** Why nothing was found, for an error message: each damaged or incomplete checkpoint and its reason. */
        public String why() {
            List<String> all = new ArrayList<>(damaged);
            all.addAll(incomplete);
            return String.join("; ", all);
        }
    }

    /**
     * The newest checkpoint of {@code writer}'s folder whose files match their manifest's sizes and CRC32s:
     * the one {@code latest} names, else the complete ones newest first. Each damaged one met on the way is
     * reported to {@code warn}, with the checkpoint used instead, or with "no earlier intact checkpoint" when
     * none is (never a fallback that does not exist).
     */
    public static Search search(CheckpointWriter writer, Consumer<String> warn) {
        List<Path> candidates = new ArrayList<>();
        writer.latest().ifPresent(candidates::add);
        for (Path p : writer.complete().reversed()) if (!candidates.contains(p)) candidates.add(p);
        List<String> damaged = new ArrayList<>();
        Optional<Path> found = Optional.empty();
        for (Path p : candidates) {
            try {
                CheckpointWriter.verify(p);
                found = Optional.of(p);
                break;
            } catch (CheckpointException e) {
                damaged.add("checkpoint " + p + " is damaged (" + e.getMessage() + ")");
            }
        }
        String outcome = found.map(p -> "falling back to " + p.getFileName())
                .orElse(candidates.size() == 1 ? "it is the only checkpoint" : "no earlier checkpoint is intact");
        for (String d : damaged) warn.accept("warning: " + d + "; " + outcome);
        return new Search(found, damaged, found.isPresent() ? List.of() : writer.incomplete());
    }

    /** {@link #search}'s checkpoint, if any. */
    public static Optional<Path> newestIntact(CheckpointWriter writer, Consumer<String> warn) {
        return search(writer, warn).found();
    }

    /** {@link #newestIntact} warning on standard error. */
    public static Optional<Path> newestIntact(CheckpointWriter writer) {
        return newestIntact(writer, System.err::println);
    }

    /**
     * Reloads the newest intact checkpoint of {@code checkpoints} into {@code trainer}, replays the steps
     * from it up to the one that diverged (they repeat exactly: their log lines and checkpoints are already
     * written), then draws and drops that step's batches, so training continues at the diverged step on the
     * next batch. Rethrows {@code diverged} when there is no checkpoint to go back to.
     */
    static void toLastCheckpoint(Trainer trainer, TrainingDiverged diverged, Path checkpoints, Progress progress) {
        Optional<Path> ckpt = newestIntact(new CheckpointWriter(checkpoints), w -> NanPolicy.report(progress, w));
        if (ckpt.isEmpty()) {
            NanPolicy.report(progress, diverged.getMessage() + "; no checkpoint in " + checkpoints + " to roll back to, stopping");
            throw diverged;
        }
        try {
            TrainCheckpoint.restore(ckpt.get(), TrainCheckpoint.readState(ckpt.get()), trainer);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot roll back to " + ckpt.get() + ": " + e.getMessage(), e);
        }
        long from = trainer.step();
        while (trainer.step() < diverged.step() - 1) trainer.trainStep();
        for (int a = 0; a < trainer.config().accum(); a++) trainer.sampler().next();
        NanPolicy.report(progress, diverged.getMessage() + "; rolled back to " + ckpt.get().getFileName() + " (step " + from
                + "), replayed to step " + trainer.step() + " and dropped the offending batch");
    }
}
