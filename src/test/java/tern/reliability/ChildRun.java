package tern.reliability;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * {@code tern} running in a child JVM, its stdout and stderr merged and collected line by line on a reader
 * thread, so the harness can wait for a line, kill the process at a chosen moment (SIGKILL or SIGINT), and
 * read what it printed.
 */
final class ChildRun implements AutoCloseable {
    private final Process process;
    private final List<String> lines = Collections.synchronizedList(new ArrayList<>());
    private final Thread reader;

    private ChildRun(Process process) {
        this.process = process;
        this.reader = Thread.ofPlatform().daemon().name("tern-child-output").start(this::pump);
    }

    static ChildRun start(Path workDir, String... ternArgs) throws IOException {
        return start(workDir, List.of(), null, ternArgs);
    }

    /**
     * With extra JVM options, and with {@code ulimit} options (e.g. "-f 1500": no file over 1500 KiB, the
     * write fails with EFBIG as on a full disk; HotSpot ignores SIGXFSZ) applied by a shell first, or null.
     */
    static ChildRun start(Path workDir, List<String> jvmOptions, String ulimit, String... ternArgs) throws IOException {
        List<String> cmd = ReliabilityData.tern(jvmOptions, ternArgs);
        if (ulimit != null) {
            List<String> shell = new ArrayList<>(List.of("bash", "-c", "ulimit " + ulimit + " && exec \"$@\"", "bash"));
            shell.addAll(cmd);
            cmd = shell;
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile()).redirectErrorStream(true);
        return new ChildRun(pb.start());
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) lines.add(line);
        } catch (IOException closed) {
            // the process was killed: what was read is kept
        }
    }

    long pid() { return process.pid(); }

    boolean alive() { return process.isAlive(); }

    /** Waits until a printed line matches or the process ends; true when a line matched. */
    boolean awaitLine(Predicate<String> match, long timeoutMillis) throws InterruptedException {
        long end = System.nanoTime() + timeoutMillis * 1_000_000;
        int seen = 0;
        while (System.nanoTime() < end) {
            synchronized (lines) {
                for (; seen < lines.size(); seen++) if (match.test(lines.get(seen))) return true;
            }
            if (!process.isAlive()) {
                reader.join(2000);
                synchronized (lines) {
                    for (; seen < lines.size(); seen++) if (match.test(lines.get(seen))) return true;
                }
                return false;
            }
            Thread.sleep(2);
        }
        return false;
    }

    /** SIGKILL (destroyForcibly on Linux): no shutdown hook, no flush, nothing runs. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGINT, as Ctrl-C sends it, through kill(1). */
    void interrupt() throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
    }

    /** Waits for the exit; returns the exit status (the process is killed after the timeout). */
    int await(long timeoutSeconds) throws InterruptedException {
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
            throw new AssertionError("tern did not finish within " + timeoutSeconds + " s; output:\n" + output());
        }
        reader.join(5000);
        return process.exitValue();
    }

    String output() {
        synchronized (lines) {
            return String.join("\n", lines);
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) kill();
    }
}
