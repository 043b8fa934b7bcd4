package tern.train;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.EnumSet;
import java.util.Optional;
import tern.checkpoint.CheckpointManifest;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.TrainingState;

/**
 * Where a command that writes a model (a folder: {@code tern export}; one file: a GGUF or packed export) may
 * put it. Training work is never overwritten: an output that is, holds, or lies inside a checkpoint or a run
 * folder is refused even with {@code --force}, as is one that is, holds or lies inside the command's own
 * input; an existing non-empty folder, or an existing file, needs {@code --force}.
 *
 * <p>Recognized as training work: a checkpoint (a folder with {@code manifest.json} or
 * {@code training_state.json}), a checkpoints folder (one with a {@code latest} marker), a run (a folder with
 * a {@code checkpoints} folder, {@code train_log.jsonl} or {@code train_config.json}). Paths are compared after
 * resolving symbolic links of the part that exists, so a link into a run is seen through. Holding is looked
 * for {@value #CONTAINS_DEPTH} levels down, as deep as {@code RUN/checkpoints/step-N} sits below a sweep's folder.
 */
public final class OutputPaths {
    /** What the command writes at the output path. */
    public enum Kind { FOLDER, FILE }

    static final int CONTAINS_DEPTH = 3;

    private OutputPaths() {}

    /** A refused output: the message names the flag, the path and why. */
    public static final class Refused extends IllegalArgumentException {
        Refused(String message) { super(message); }
    }

    /**
     * Refuses {@code out} (given as {@code flag}, e.g. "--out") as the place to write a {@code kind}, unless
     * it is safe; {@code inputs} are the files or folders the command reads (the checkpoint it exports).
     */
    public static void check(Path out, Kind kind, boolean force, String flag, Path... inputs) {
        String given = flag + " " + out;
        Path target = real(out);
        for (Path p = target; p != null; p = p.getParent()) {
            Optional<String> work = trainingWork(p);
            if (work.isEmpty()) continue;
            throw new Refused(given + (p.equals(target) ? " is " : " lies inside ") + work.get() + " " + p
                    + ": an export there could overwrite training work (its float latent weights, optimizer state or log); "
                    + "choose a folder outside it" + (force ? " (--force does not override this)" : ""));
        }
        for (Path in : inputs) {
            Path input = real(in);
            if (target.equals(input))
                throw new Refused(given + " is the input " + in + ": writing there would replace what is being read");
            if (target.startsWith(input))
                throw new Refused(given + " lies inside the input " + in + "; choose a folder outside it");
            if (input.startsWith(target) && kind == Kind.FOLDER)
                throw new Refused(given + " holds the input " + in + "; choose a folder outside it");
        }
        if (Files.isDirectory(target)) {
            if (kind == Kind.FILE) throw new Refused(given + " is a folder; give the file to write");
            Optional<Path> inside = holdsTrainingWork(target);
            if (inside.isPresent())
                throw new Refused(given + " holds " + trainingWork(inside.get()).orElseThrow() + " " + inside.get()
                        + "; choose a folder outside it" + (force ? " (--force does not override this)" : ""));
            if (!force && !isEmpty(target))
                throw new Refused(given + " is not empty; give --force to write into it anyway (its model.safetensors, "
                        + "config.json and tokenizer.json are replaced, other files kept), or choose an empty or new folder");
        } else if (Files.exists(target)) {
            if (kind == Kind.FOLDER) throw new Refused(given + " is a file, not a folder");
            if (!force) throw new Refused(given + " exists; give --force to replace it");
        }
    }

    /** "a checkpoint" / "a run folder" / "a checkpoints folder" when {@code dir} is training work. */
    static Optional<String> trainingWork(Path dir) {
        if (!Files.isDirectory(dir)) return Optional.empty();
        if (Files.exists(dir.resolve(CheckpointManifest.FILE)) || Files.exists(dir.resolve(TrainingState.FILE)))
            return Optional.of("the checkpoint");
        if (Files.exists(dir.resolve(CheckpointWriter.LATEST), LinkOption.NOFOLLOW_LINKS)) return Optional.of("the checkpoints folder");
        if (Files.isDirectory(dir.resolve(TrainCheckpoint.FOLDER)) || Files.exists(dir.resolve(TrainLog.FILE))
                || Files.exists(dir.resolve("train_config.json")))
            return Optional.of("the run folder");
        return Optional.empty();
    }

    /** The first folder at most {@link #CONTAINS_DEPTH} levels below {@code dir} that is training work. */
    private static Optional<Path> holdsTrainingWork(Path dir) {
        Path[] found = new Path[1];
        try {
            Files.walkFileTree(dir, EnumSet.noneOf(java.nio.file.FileVisitOption.class), CONTAINS_DEPTH, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                    if (trainingWork(d).isPresent()) {
                        found[0] = d;
                        return FileVisitResult.TERMINATE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) {
                    // at the depth limit folders arrive here as files: look at them too
                    if (attrs.isDirectory() && trainingWork(f).isPresent()) {
                        found[0] = f;
                        return FileVisitResult.TERMINATE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException e) { return FileVisitResult.CONTINUE; }
            });
        } catch (IOException unreadable) {
            // a folder we cannot list holds nothing we could overwrite either
        }
        return Optional.ofNullable(found[0]);
    }

    private static boolean isEmpty(Path dir) {
        try (var entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            throw new Refused(dir + ": cannot list (" + e.getMessage() + ")");
        }
    }

    /** The absolute, normalized path with the symbolic links of its existing part resolved. */
    static Path real(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return abs;
        try {
            return existing.toRealPath().resolve(existing.relativize(abs));
        } catch (IOException e) {
            return abs;
        }
    }
}
