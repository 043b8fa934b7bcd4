package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tern.train.TrainLog;

/**
 * {@code tern train --processes N} end to end, in real processes (the launcher, one JVM per rank, TCP
 * collectives: the code path of {@code --gpus N} less NCCL):
 * <ul>
 *   <li>2 ranks with the optimizer sharded (ZeRO-1) train the single-process run's loss curve (1e-4
 *       relative per step; the sums are grouped by rank) and only rank 0 writes to the run folder;</li>
 *   <li>a rank killed (SIGKILL) after the first checkpoint ends the whole job within seconds with a
 *       non-zero status and no rank left running, the checkpoint stays intact, and {@code --resume} on 2
 *       ranks finishes the run on the same curve;</li>
 *   <li>a rank that stops answering (SIGSTOP: alive, silent) is detected by its heartbeat and the job
 *       ends within the hang limit plus the grace period;</li>
 *   <li>two launchers as two nodes ({@code --nodes 2 --node-rank I --master HOST:PORT}) form one job.</li>
 * </ul>
 */
class DataParallelProcessTest {
    private static final int STEPS = 8;
    @TempDir static Path shared;
    private static Path data, single;

    /** The data folder and the single-process run every job here is compared with, made once. */
    private static synchronized void reference() throws Exception {
        if (single != null) return;
        data = ReliabilityData.grammarShards(shared.resolve("data"));
        Path s = shared.resolve("single");
        try (ChildRun ref = ChildRun.start(shared, train(data, s))) {
            assertEquals(0, ref.await(300), ref.output());
        }
        single = s;
    }

    private static String[] train(Path data, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--preset", "tiny", "--precision", "ternary", "--data", data.toString(),
                "--out", out.toString(), "--steps", Integer.toString(STEPS), "--batch", "2", "--seq", "32", "--accum", "2",
                "--eval-every", "0", "--seed", "11", "--save-every", "2"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    private static Optional<ProcessHandle> rank(ChildRun launcher, int rank) {
        return ProcessHandle.of(launcher.pid()).orElseThrow().descendants()
                .filter(h -> h.info().arguments().map(a -> String.join(" ", a).contains("--rank " + rank + " ")).orElse(false))
                .findFirst();
    }

    private static void awaitFile(Path f, long millis) throws InterruptedException {
        long end = System.currentTimeMillis() + millis;
        while (!Files.isRegularFile(f) && System.currentTimeMillis() < end) Thread.sleep(50);
        assertTrue(Files.isRegularFile(f), f + " did not appear within " + millis + " ms");
    }

    private static void assertSameCurve(Path want, Path got) throws Exception {
        List<TrainLog.Step> a = TrainLog.readSteps(want.resolve(TrainLog.FILE)), b = TrainLog.readSteps(got.resolve(TrainLog.FILE));
        assertEquals(STEPS, b.size(), got + ": one log line per step");
        for (int i = 0; i < STEPS; i++)
            assertEquals(a.get(i).loss(), b.get(i).loss(), 1e-4 * Math.abs(a.get(i).loss()), got.getFileName() + ", step " + (i + 1));
    }

    @Test
    void aKilledRankEndsTheJobAndTheRunResumesOnTheSameCurve(@TempDir Path tmp) throws Exception {
        reference();
        Path job = tmp.resolve("job");
        try (ChildRun launcher = ChildRun.start(tmp, train(data, job, "--processes", "2", "--zero", "1"))) {
            awaitFile(job.resolve("checkpoints/step-000002/manifest.json"), 240_000);
            ProcessHandle victim = rank(launcher, 1).orElseThrow(() -> new AssertionError("no rank 1 process"));
            List<ProcessHandle> ranks = ProcessHandle.of(launcher.pid()).orElseThrow().descendants().toList();
            long killed = System.nanoTime();
            victim.destroyForcibly();
            int status = launcher.await(60);
            double seconds = (System.nanoTime() - killed) / 1e9;
            assertNotEquals(0, status, launcher.output());
            assertTrue(seconds < 15, "the job ended " + seconds + " s after the kill");
            for (ProcessHandle h : ranks) {
                h.onExit().get(10, TimeUnit.SECONDS);
                assertTrue(!h.isAlive(), "rank process " + h.pid() + " outlived the job");
            }
            assertTrue(launcher.output().contains("rank 1 exited with status"), launcher.output());
        }
        try (ChildRun resumed = ChildRun.start(tmp, "train", "--resume", job.toString(), "--processes", "2", "--zero", "1")) {
            assertEquals(0, resumed.await(300), resumed.output());
        }
        assertSameCurve(single, job);
        try (Stream<Path> files = Files.list(job)) {
            Set<String> names = files.map(f -> f.getFileName().toString()).collect(Collectors.toSet());
            assertEquals(Set.of("checkpoints", "train_config.json", "train_log.jsonl", "train.lock", "rank-1.log"), names,
                    "rank 0's files and the launcher's log of rank 1");
        }
    }

    @Test
    void aRankThatStopsAnsweringEndsTheJob(@TempDir Path tmp) throws Exception {
        reference();
        Path job = tmp.resolve("job");
        try (ChildRun launcher = ChildRun.start(tmp, train(data, job, "--processes", "2"))) {
            assertTrue(launcher.awaitLine(l -> l.startsWith("step 1/"), 240_000), launcher.output());
            ProcessHandle victim = rank(launcher, 1).orElseThrow(() -> new AssertionError("no rank 1 process"));
            long stopped = System.nanoTime();
            new ProcessBuilder("kill", "-STOP", Long.toString(victim.pid())).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
            int status = launcher.await(60);
            double seconds = (System.nanoTime() - stopped) / 1e9;
            assertEquals(4, status, launcher.output());
            assertTrue(launcher.output().contains("rank 1 has not answered"), launcher.output());
            assertTrue(seconds < 15, "the job ended " + seconds + " s after the rank stopped");
            victim.onExit().get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Two "hosts" on loopback: two launchers, --nodes 2 with --node-rank 0 and 1, one rank each, meeting at
     * --master (the TCP rendezvous of several hosts), follow the single-process curve.
     */
    @Test
    void twoNodesMeetAtTheMasterAddress(@TempDir Path tmp) throws Exception {
        reference();
        Path job = tmp.resolve("job");
        String master = "127.0.0.1:" + freePort();
        try (ChildRun node1 = ChildRun.start(tmp, train(data, job, "--processes", "1", "--nodes", "2", "--node-rank", "1", "--master", master));
             ChildRun node0 = ChildRun.start(tmp, train(data, job, "--processes", "1", "--nodes", "2", "--node-rank", "0", "--master", master))) {
            assertEquals(0, node0.await(300), node0.output());
            assertEquals(0, node1.await(60), node1.output());
        }
        assertSameCurve(single, job);
    }

    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
