package tern.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/**
 * {@code tern train --gpus N}: the parent process starts one {@code tern train} per GPU (the same
 * arguments, less {@code --gpus}, plus {@code --rank R --ranks N --rendezvous FILE --job TAG}), and watches
 * them: when one exits with an error or is killed, the others are stopped within seconds (SIGTERM, then
 * SIGKILL after a grace period), so a dead or hung rank never leaves the job waiting forever; the last
 * complete checkpoint stays as it was and {@code --resume} continues. Rank 0 prints to this console, the
 * others to {@code RUN/rank-R.log}. Every child gets NCCL_NVLS_ENABLE=0 (NVLink multicast stays off).
 */
final class RankLauncher {
    static final long GRACE_MILLIS = 5_000;

    private RankLauncher() {}

    /** The arguments of rank {@code rank}: {@code argv} without its --gpus flag, plus the rank flags. */
    static List<String> rankArgs(String[] argv, int rank, int ranks, Path rendezvous, String job) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            if (argv[i].equals("--gpus")) {
                i++;                                           // and its value
                continue;
            }
            if (argv[i].startsWith("--gpus=")) continue;
            out.add(argv[i]);
        }
        out.addAll(List.of("--rank", Integer.toString(rank), "--ranks", Integer.toString(ranks),
                "--rendezvous", rendezvous.toString(), "--job", job));
        return out;
    }

    /** The java command that runs tern.cli.Main in a new process, with this JVM's class path and modules. */
    static List<String> javaCommand() {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m",
                "-cp", System.getProperty("java.class.path")));
        cmd.add("tern.cli.Main");
        return cmd;
    }

    /**
     * Starts {@code ranks} children for the run folder {@code runDir} and waits for them; returns 0 when all
     * finished cleanly, else the first failure's exit status.
     */
    static int launch(String[] argv, int ranks, Path runDir) throws IOException, InterruptedException {
        Files.createDirectories(runDir);
        Path rendezvous = runDir.resolve(".nccl-id");
        String job = UUID.randomUUID().toString();
        List<Process> children = new ArrayList<>();
        try {
            for (int r = 0; r < ranks; r++) {
                List<String> cmd = javaCommand();
                cmd.addAll(rankArgs(argv, r, ranks, rendezvous, job));
                ProcessBuilder pb = new ProcessBuilder(cmd);
                pb.environment().put("NCCL_NVLS_ENABLE", "0");
                if (r == 0) pb.inheritIO();
                else pb.redirectErrorStream(true).redirectOutput(runDir.resolve("rank-" + r + ".log").toFile());
                children.add(pb.start());
            }
            return watch(children);
        } finally {
            stopAll(children);
            Files.deleteIfExists(rendezvous);
        }
    }

    /** Waits until every child has exited cleanly or one has failed; returns 0 or that failure's status. */
    static int watch(List<Process> children) throws InterruptedException {
        while (true) {
            boolean allDone = true;
            for (int r = 0; r < children.size(); r++) {
                Process p = children.get(r);
                if (p.isAlive()) {
                    allDone = false;
                    continue;
                }
                if (p.exitValue() != 0) {
                    System.err.printf(Locale.ROOT, "tern train: rank %d exited with status %d; stopping the other ranks%n", r, p.exitValue());
                    return p.exitValue();
                }
            }
            if (allDone) return 0;
            Thread.sleep(200);
        }
    }

    /** SIGTERM to every live child, then SIGKILL to those still alive after the grace period. */
    static void stopAll(List<Process> children) throws InterruptedException {
        for (Process p : children) if (p.isAlive()) p.destroy();
        long deadline = System.currentTimeMillis() + GRACE_MILLIS;
        for (Process p : children) {
            long left = deadline - System.currentTimeMillis();
            if (left > 0) p.waitFor(left, java.util.concurrent.TimeUnit.MILLISECONDS);
            if (p.isAlive()) p.destroyForcibly().waitFor(GRACE_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    /**
     * In a child: a daemon thread that ends this process (status 3) when the launcher that started it is
     * gone, or when {@code failed} reports a collective error, so an orphaned or stuck rank never outlives
     * its job.
     */
    static void watchdog(java.util.function.IntSupplier failed) {
        ProcessHandle parent = ProcessHandle.current().parent().orElse(null);
        Thread t = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
                int error = failed.getAsInt();
                if (error != 0) {
                    System.err.println("tern train: NCCL reports error " + error + " (a peer failed); ending this rank");
                    Runtime.getRuntime().halt(3);
                }
                if (parent != null && !parent.isAlive()) {
                    System.err.println("tern train: the launcher is gone; ending this rank");
                    Runtime.getRuntime().halt(3);
                }
            }
        }, "rank-watchdog");
        t.setDaemon(true);
        t.start();
    }
}
