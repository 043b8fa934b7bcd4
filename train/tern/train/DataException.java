package tern.train;

import java.nio.file.Path;

/** Training data that cannot be used (a corrupt shard, a bad cursor): names the file and the problem. */
public final class DataException extends RuntimeException {
    public DataException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public DataException(String problem) {
        super(problem);
    }

    public DataException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
