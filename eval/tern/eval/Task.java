package tern.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A zero-shot task: where its public file lives under a data directory, how its records become
 * {@link Item}s (prompts as lm-evaluation-harness builds them), and which metrics it reports.
 */
public interface Task {

    /** What the harness reports for the task. */
    enum Metrics {
        /** acc and acc_norm (log-likelihood over the choice's length in characters). */
        ACC_AND_NORM,
        /** acc only (WinoGrande: its options sit in the context, so lengths do not compare). */
        ACC,
        /** LAMBADA: acc = the target is the greedy continuation; perplexity = exp(−mean log-likelihood). */
        GREEDY_AND_PERPLEXITY
    }

    String name();

    Metrics metrics();

    /** Every item of the task, in file order; a malformed record is a {@link TaskFormatException}. */
    List<Item> load(Path dataDir) throws IOException;

    /** The first of {@code candidates} present in {@code dataDir}, or an error listing them all. */
    static Path find(Path dataDir, String task, String... candidates) {
        for (String c : candidates) {
            Path p = dataDir.resolve(c);
            if (Files.isRegularFile(p)) return p;
        }
        throw new TaskFormatException("task " + task + ": none of " + String.join(", ", candidates) + " in " + dataDir);
    }
}
