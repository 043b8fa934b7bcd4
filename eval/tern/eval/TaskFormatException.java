package tern.eval;

/** A task file that does not hold what its format promises; the message names the file and line. */
public final class TaskFormatException extends RuntimeException {
    public TaskFormatException(String message) { super(message); }
}
