package tern.checkpoint;

import java.nio.file.Path;

/**
 * A checkpoint or tensor file that cannot be read or written: corrupt, truncated, inconsistent, or an I/O
 * failure. The message always starts with the file, then names the tensor or field and the problem, so a
 * user can tell which of many files in a run directory is bad and why.
 */
public final class CheckpointException extends RuntimeException {
    private final transient Path file;

    public CheckpointException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public CheckpointException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem + (cause.getMessage() == null ? "" : " (" + cause.getMessage() + ")"), cause);
        this.file = file;
    }

    /** The file (or checkpoint directory) the problem is in. */
    public Path file() { return file; }
}
