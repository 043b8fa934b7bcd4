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
 *   <li>two launchers as two nodes ({@code --nodes 2 --node-rank I --master HOST:PORT}) form one job;</li>
 *   <li>tensor parallelism ({@code --tensor-parallel 2}) on 2 ranks, and on 4 as 2 data-parallel replicas
 *       with ZeRO-1, follows the single-process run, and its checkpoint (the whole model) resumes in one
 *       process on the uninterrupted run's curve.</li>
 * </ul>
 * The runs are TriLMs with 2 absmean scales per matrix ({@code --ternary-shards 2}), so each tensor-parallel
 * slice keeps whole shards.
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
                "--eval-every", "0", "--seed", "11", "--save-every", "2", "--keep", "0", "--ternary-shards", "2"));
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
        assertSameCurve(want, got, STEPS, 1e-4);
    }

    /** The first {@code steps} losses of two runs' logs agree to {@code bound} relative (and {@code got} has no more). */
    private static void assertSameCurve(Path want, Path got, int steps, double bound) throws Exception {
        List<TrainLog.Step> a = TrainLog.readSteps(want.resolve(TrainLog.FILE)), b = TrainLog.readSteps(got.resolve(TrainLog.FILE));
        assertEquals(steps, b.size(), got + ": one log line per step");
        for (int i = 0; i < steps; i++)
            assertEquals(a.get(i).loss(), b.get(i).loss(), bound * Math.abs(a.get(i).loss()), got.getFileName() + ", step " + (i + 1));
    }

    /**
     * Two checkpoints hold the same tensors (names and shapes) whose values agree to {@code bound} in relative
     * L2 norm per tensor, weights and AdamW moments.
     */
    private static void assertSameState(Path want, Path got, double bound) {
        for (String file : List.of(tern.train.TrainCheckpoint.MODEL, tern.train.TrainCheckpoint.OPTIMIZER))
            try (tern.checkpoint.SafetensorsFile a = tern.checkpoint.SafetensorsFile.open(want.resolve(file));
                 tern.checkpoint.SafetensorsFile b = tern.checkpoint.SafetensorsFile.open(got.resolve(file))) {
                assertEquals(Set.copyOf(a.names()), Set.copyOf(b.names()), file + ": the same tensors");
                for (String name : a.names())
                    try (tern.runtime.Tensor x = a.tensor(name); tern.runtime.Tensor y = b.tensor(name, x.shape())) {
                        float[] u = x.toFloatArray(), v = y.toFloatArray();
                        double d = 0, n = 0;
                        for (int i = 0; i < u.length; i++) {
                            d += (double) (u[i] - v[i]) * (u[i] - v[i]);
                            n += (double) u[i] * u[i];
                        }
                        assertTrue(n > 0, name + " is all zero: the comparison would prove nothing");
                        assertTrue(Math.sqrt(d / n) <= bound, got + "/" + file + ": " + name + " differs by " + Math.sqrt(d / n) + " relative");
                    }
            }
    }

    private static Path checkpoint(Path run, int step) { return run.resolve("checkpoints").resolve(String.format("step-%06d", step)); }

    /** A copy of a finished run's folder (its lock file left behind), to resume from one of its checkpoints. */
    private static void copyRun(Path from, Path to) throws java.io.IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                if (p.getFileName().toString().equals("train.lock")) continue;
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
    }

    /**
     * Tensor parallelism's bounds. The o and down products are summed over the slices by the all-reduce
     * where one process sums each row in one product, so the activations, and then the gradients, differ by
     * f32 rounding (step 1: gradient norms equal to 2e-8 relative). The losses stay within 2e-5 relative
     * (measured over 8 steps: equal to the last bit on this data, at most 3.7e-6 on the demo corpus). The
     * weights move apart more, through AdamW alone: an element whose gradient is at the rounding floor
     * (|g| of a few 1e-9, near eps = 1e-8; measured: 3.9e-9 against 4.8e-9 for one v_proj weight) is moved
     * by lr·g/(|g| + eps), so its rounding changes that update by about a tenth of lr. Hence 1e-3 relative L2
     * per tensor for weights and moments after 8 steps (measured: 1.6e-5 here, 5.5e-4 on the demo corpus's
     * TriLM, 6.4e-5 for a FloatLM); data parallelism alone, whose forward is that of one process, stays at
     * 2.4e-7.
     */
    private static final double TP_LOSS = 2e-5, TP_STATE = 1e-3;

    /**
     * --processes 2 --tensor-parallel 2 follows the single-process run (losses and the final weights and
     * moments, the checkpoint holding the whole model); its step-4 checkpoint resumed in one process goes on
     * with the uninterrupted tensor-parallel run's losses and ends at its weights.
     */
    @Test
    void tensorParallelTwoFollowsOneProcessAndResumesInOne(@TempDir Path tmp) throws Exception {
        reference();
        Path tp = tmp.resolve("tp2");
        try (ChildRun job = ChildRun.start(tmp, train(data, tp, "--processes", "2", "--tensor-parallel", "2"))) {
            assertEquals(0, job.await(300), job.output());
        }
        assertSameCurve(single, tp, STEPS, TP_LOSS);
        assertSameState(checkpoint(single, STEPS), checkpoint(tp, STEPS), TP_STATE);
        Path resumed = tmp.resolve("tp2-then-1");
        copyRun(tp, resumed);
        try (ChildRun one = ChildRun.start(tmp, "train", "--resume", checkpoint(resumed, 4).toString())) {
            assertEquals(0, one.await(300), one.output());
        }
        assertSameCurve(tp, resumed, STEPS, TP_LOSS);
        assertSameState(checkpoint(tp, STEPS), checkpoint(resumed, STEPS), TP_STATE);
    }

    /**
     * --processes 4 --tensor-parallel 2 --zero 1: two data-parallel replicas of two tensor-parallel ranks
     * each (the moments sharded within each data group) follow the single-process run at the same global
     * batch, to 4 steps (stopped there with a checkpoint of the whole model).
     */
    @Test
    void dataParallelTimesTensorParallelFollowsOneProcess(@TempDir Path tmp) throws Exception {
        reference();
        Path job = tmp.resolve("dp2-tp2");
        try (ChildRun run = ChildRun.start(tmp, train(data, job, "--processes", "4", "--tensor-parallel", "2", "--zero", "1", "--stop-after", "4"))) {
            assertEquals(0, run.await(300), run.output());
        }
        assertSameCurve(single, job, 4, TP_LOSS);
        assertSameState(checkpoint(single, 4), checkpoint(job, 4), TP_STATE);
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
