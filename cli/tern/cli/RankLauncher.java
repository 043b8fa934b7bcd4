package tern.cli;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * {@code tern train --gpus N} (or {@code --processes N} on the CPU): the parent process starts one
 * {@code tern train} per local rank (the same arguments less the launcher's flags, plus {@code --rank R
 * --ranks N --job TAG --heartbeat PORT} and where the ranks meet: {@code --rendezvous FILE} for NCCL on one
 * host, {@code --master HOST:PORT} for TCP) and watches them:
 * <ul>
 *   <li>a rank that exits with an error or is killed: the others are stopped (SIGTERM, then SIGKILL after a
 *       grace period) and its status is the job's;</li>
 *   <li>a rank that stops answering (its heartbeat, one byte every {@value #BEAT_MILLIS} ms on a loopback
 *       socket, silent for {@value #HANG_MILLIS} ms: stopped, frozen): it is killed at once, then the
 *       others as above;</li>
 *   <li>a stop request (Ctrl-C reaches every rank; SIGTERM to the launcher is passed on to them): the ranks
 *       agree on the step to stop after, rank 0 saves, and the launcher waits for them all.</li>
 * </ul>
 * So a dead or hung rank never leaves the job waiting, the last complete checkpoint stays as it was (every
 * save is atomic), and {@code --resume} continues. Rank 0 prints to this console, the others to
 * {@code RUN/rank-R.log}. Every child gets NCCL_NVLS_ENABLE=0 (NVLink multicast stays off) and, for GPUs, its
 * own CUDA_VISIBLE_DEVICES entry, so each process sees one GPU as device 0.
 */
final class RankLauncher {
    static final long GRACE_MILLIS = 5_000, BEAT_MILLIS = 500, HANG_MILLIS = 5_000;
    /** How long a new rank may take to send its first heartbeat (JVM start, CUDA and NCCL set-up). */
    static final long STARTUP_MILLIS = 120_000;
    /** How long the ranks may take to stop cleanly (finish a step, save) after a stop request. */
    static final long STOP_MILLIS = 300_000;

    /** The launcher's own flags, not passed to the ranks (they get theirs in rank form). */
    static final Set<String> LAUNCHER_FLAGS = Set.of("gpus", "processes", "nodes", "node-rank", "master");

    private RankLauncher() {}

    /**
     * Where this launcher's ranks sit in the job: {@code local} ranks here, on node {@code nodeRank} of
     * {@code nodes}; {@code master} (HOST:PORT, null on one host) is where rank 0 listens.
     */
    record Plan(int local, int nodes, int nodeRank, String master, boolean gpus) {
        Plan {
            if (local < 1) throw new UsageException("--" + (gpus ? "gpus" : "processes") + " must be at least 1, got " + local);
            if (nodes < 1) throw new UsageException("--nodes must be at least 1, got " + nodes);
            if (nodeRank < 0 || nodeRank >= nodes) throw new UsageException("--node-rank must be in 0.." + (nodes - 1) + ", got " + nodeRank);
            if (nodes > 1 && master == null) throw new UsageException("--nodes " + nodes + " needs --master HOST:PORT (where rank 0, on node 0, listens)");
        }

        int ranks() { return local * nodes; }

        int globalRank(int localRank) { return nodeRank * local + localRank; }
    }

    /** The arguments of one rank: {@code argv} without the launcher's flags, plus the rank's own. */
    static List<String> rankArgs(String[] argv, int rank, int ranks, List<String> meeting, String job, int heartbeat) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            String name = a.startsWith("--") ? a.substring(2).split("=", 2)[0] : null;
            if (name != null && LAUNCHER_FLAGS.contains(name)) {
                if (!a.contains("=")) i++;                     // and its value
                continue;
            }
            out.add(a);
        }
        out.addAll(List.of("--rank", Integer.toString(rank), "--ranks", Integer.toString(ranks)));
        out.addAll(meeting);
        out.addAll(List.of("--job", job, "--heartbeat", Integer.toString(heartbeat)));
        return out;
    }

    /**
     * The java command that runs tern.cli.Main in a new process: this JVM's options (heap, GC, -D settings,
     * as /proc gives them) and class path, so a rank runs as the launcher was started.
     */
    static List<String> javaCommand() {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmOptions(ProcessHandle.current().info().arguments().map(List::of).orElse(List.of())));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "tern.cli.Main"));
        return cmd;
    }

    /**
     * The JVM options among a java command's arguments (those before the main class), less the class path;
     * the modules and native access tern needs are there whatever was given.
     */
    static List<String> jvmOptions(List<String> javaArgs) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < javaArgs.size(); i++) {
            String a = javaArgs.get(i);
            if (!a.startsWith("-") || a.equals("-jar")) break;                    // the main class (or a jar): options end
            if (a.equals("-cp") || a.equals("-classpath") || a.equals("--class-path")) {
                i++;
                continue;
            }
            if (a.equals("--add-modules") && i + 1 < javaArgs.size()) {
                out.add(a);
                out.add(javaArgs.get(++i));
                continue;
            }
            out.add(a);
        }
        if (!String.join(" ", out).contains("jdk.incubator.vector")) out.addAll(List.of("--add-modules", "jdk.incubator.vector"));
        if (!out.contains("--enable-native-access=ALL-UNNAMED")) out.add("--enable-native-access=ALL-UNNAMED");
        return out;
    }

    /** The GPU each local rank sees: the r-th of CUDA_VISIBLE_DEVICES when set, else device r. */
    static String visibleDevice(String visible, int localRank) {
        if (visible == null || visible.isBlank()) return Integer.toString(localRank);
        String[] ids = visible.split(",");
        if (localRank >= ids.length)
            throw new UsageException("--gpus asks for " + (localRank + 1) + "+ GPUs, CUDA_VISIBLE_DEVICES lists " + ids.length + " (" + visible + ")");
        return ids[localRank].strip();
    }

    /** A free TCP port on loopback, for the ranks of one host to meet on. */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /**
     * Starts this node's ranks for the run folder {@code runDir} and waits for them; returns 0 when all
     * finished cleanly, else the first failure's exit status.
     */
    static int launch(String[] argv, Plan plan, Path runDir) throws IOException, InterruptedException {
        Files.createDirectories(runDir);
        Path rendezvous = runDir.resolve(".nccl-id");
        List<String> meeting;
        String job;
        if (plan.master() != null) {                             // several hosts: every node knows the master
            meeting = List.of("--master", plan.master());
            job = "tern-" + plan.master() + "-" + plan.ranks();
        } else if (plan.gpus()) {
            meeting = List.of("--rendezvous", rendezvous.toString());
            job = UUID.randomUUID().toString();
        } else {
            meeting = List.of("--master", "127.0.0.1:" + freePort());
            job = UUID.randomUUID().toString();
        }
        List<Process> children = new ArrayList<>();
        try (Heartbeats beats = new Heartbeats(plan.local(), plan.globalRank(0))) {
            for (int r = 0; r < plan.local(); r++) {
                int rank = plan.globalRank(r);
                List<String> cmd = javaCommand();
                cmd.add("train");                                   // argv is what follows the command's name
                cmd.addAll(rankArgs(argv, rank, plan.ranks(), meeting, job, beats.port()));
                ProcessBuilder pb = new ProcessBuilder(cmd);
                pb.environment().put("NCCL_NVLS_ENABLE", "0");
                if (plan.gpus()) pb.environment().put("CUDA_VISIBLE_DEVICES", visibleDevice(System.getenv("CUDA_VISIBLE_DEVICES"), r));
                if (rank == 0) pb.inheritIO();
                else pb.redirectErrorStream(true).redirectOutput(runDir.resolve("rank-" + rank + ".log").toFile());
                children.add(pb.start());
            }
            StopRequest stop = new StopRequest(children);
            StopSignals.install(stop::forward);
            return watch(children, beats, stop, plan.globalRank(0));
        } finally {
            stopAll(children);
            if (plan.nodeRank() == 0) Files.deleteIfExists(rendezvous);
        }
    }

    /** A stop request to the launcher: passed on to the ranks once, after which their exits are awaited. */
    static final class StopRequest {
        private final List<Process> children;
        private volatile long at;

        StopRequest(List<Process> children) { this.children = children; }

        void forward() {
            if (at != 0) return;
            at = System.currentTimeMillis();
            System.err.println("tern train: stopping: the ranks finish their step and rank 0 saves a checkpoint");
            for (Process p : children) if (p.isAlive()) p.destroy();             // SIGTERM: TrainerStop's hook
        }

        boolean requested() { return at != 0; }
    }

    /** Waits until every child has exited cleanly or one has failed; returns 0 or that failure's status. */
    static int watch(List<Process> children) throws InterruptedException {
        return watch(children, null, null, 0);
    }

    static int watch(List<Process> children, Heartbeats beats, StopRequest stop, int firstRank) throws InterruptedException {
        long start = System.currentTimeMillis();
        while (true) {
            boolean allDone = true;
            boolean stopping = stop != null && stop.requested();
            for (int r = 0; r < children.size(); r++) {
                Process p = children.get(r);
                if (p.isAlive()) {
                    allDone = false;
                    if (beats != null && !stopping) {
                        long silent = beats.silentMillis(r, start);
                        long limit = beats.heard(r) ? HANG_MILLIS : STARTUP_MILLIS;
                        if (silent > limit) {
                            System.err.printf(Locale.ROOT, "tern train: rank %d has not answered for %.1f s (hung or stopped); ending the job%n",
                                    firstRank + r, silent / 1000.0);
                            p.destroyForcibly();
                            return 4;
                        }
                    }
                    continue;
                }
                // while stopping, ranks end as they finish (a signal's exit status included): wait for rank 0's save
                if (p.exitValue() != 0 && !stopping) {
                    System.err.printf(Locale.ROOT, "tern train: rank %d exited with status %d; stopping the other ranks%n", firstRank + r, p.exitValue());
                    return p.exitValue();
                }
            }
            if (allDone) return stopping ? children.get(0).exitValue() : 0;
            if (stopping && System.currentTimeMillis() - stop.at > STOP_MILLIS) {
                System.err.println("tern train: the ranks did not stop within " + STOP_MILLIS / 1000 + " s; ending them");
                return 5;
            }
            Thread.sleep(100);
        }
    }

    /** SIGTERM to every live child, then SIGKILL to those still alive after the grace period. */
    static void stopAll(List<Process> children) throws InterruptedException {
        for (Process p : children) if (p.isAlive()) p.destroy();
        long deadline = System.currentTimeMillis() + GRACE_MILLIS;
        for (Process p : children) {
            long left = deadline - System.currentTimeMillis();
            if (left > 0) p.waitFor(left, TimeUnit.MILLISECONDS);
            if (p.isAlive()) p.destroyForcibly().waitFor(GRACE_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * The launcher's end of the heartbeats: a loopback socket each rank connects to, sending its rank,
     * then one byte every {@link #BEAT_MILLIS} ms from a daemon thread. A rank whose process is
     * stopped or frozen falls silent.
     */
    static final class Heartbeats implements AutoCloseable {
        private final ServerSocket server;
        private final AtomicLongArray last;
        private final List<Socket> sockets = new ArrayList<>();
        private final int firstRank;

        /** For {@code ranks} local ranks whose global ranks start at {@code firstRank}. */
        Heartbeats(int ranks, int firstRank) throws IOException {
            server = new ServerSocket(0, ranks, InetAddress.getLoopbackAddress());
            last = new AtomicLongArray(ranks);
            this.firstRank = firstRank;
            Thread.ofPlatform().daemon().name("rank-heartbeats").start(this::accept);
        }

        int port() { return server.getLocalPort(); }

        boolean heard(int local) { return last.get(local) != 0; }

        long silentMillis(int local, long since) {
            long l = last.get(local);
            return System.currentTimeMillis() - (l == 0 ? since : l);
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    synchronized (sockets) { sockets.add(s); }
                    Thread.ofPlatform().daemon().name("rank-heartbeat").start(() -> listen(s));
                } catch (IOException closed) {
                    return;
                }
            }
        }

        private void listen(Socket s) {
            try (DataInputStream in = new DataInputStream(s.getInputStream())) {
                int local = in.readInt() - firstRank;
                if (local < 0 || local >= last.length()) return;
                last.set(local, System.currentTimeMillis());
                while (in.read() >= 0) last.set(local, System.currentTimeMillis());
            } catch (IOException gone) {
                // the rank exited; the watcher sees its exit status
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (sockets) { for (Socket s : sockets) s.close(); }
        }
    }

    /**
     * In a child: a daemon thread that beats to the launcher's {@link Heartbeats} (port {@code heartbeat},
     * 0 for none) and ends this process (status 3) when the launcher is gone or {@code failed} reports a
     * collective error, so an orphaned or stuck rank never outlives its job.
     */
    static void watchdog(int heartbeat, int rank, java.util.function.IntSupplier failed) {
        ProcessHandle parent = ProcessHandle.current().parent().orElse(null);
        Thread t = new Thread(() -> {
            DataOutputStream beat = null;
            try {
                if (heartbeat > 0) {
                    Socket s = new Socket();
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), heartbeat), 5_000);
                    beat = new DataOutputStream(s.getOutputStream());
                    beat.writeInt(rank);
                    beat.flush();
                }
            } catch (IOException e) {
                System.err.println("tern train: cannot reach the launcher's heartbeat port " + heartbeat + " (" + e.getMessage() + "); ending this rank");
                Runtime.getRuntime().halt(3);
            }
            long lastCheck = 0;
            while (true) {
                try {
                    Thread.sleep(BEAT_MILLIS);
                    if (beat != null) {
                        beat.write(1);
                        beat.flush();
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (IOException e) {
                    System.err.println("tern train: the launcher is gone; ending this rank");
                    Runtime.getRuntime().halt(3);
                }
                if (System.currentTimeMillis() - lastCheck < 1000) continue;
                lastCheck = System.currentTimeMillis();
                int error = failed.getAsInt();
                if (error != 0) {
                    System.err.println("tern train: the collectives report error " + error + " (a peer failed); ending this rank");
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

    static String describe(Plan plan) {
        return String.format(Locale.ROOT, "%d rank%s (%d %s here%s)", plan.ranks(), plan.ranks() == 1 ? "" : "s", plan.local(),
                plan.gpus() ? "GPU" + (plan.local() == 1 ? "" : "s") : "process" + (plan.local() == 1 ? "" : "es"),
                plan.nodes() > 1 ? ", node " + plan.nodeRank() + " of " + plan.nodes() : "");
    }
}
