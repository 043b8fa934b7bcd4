package tern.model;

import java.io.IOException;
import java.nio.file.Path;

/** A tokenizer file that cannot be used: the message names the file and what is wrong with it. */
public final class TokenizerFormatException extends IOException {
    public TokenizerFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public TokenizerFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
