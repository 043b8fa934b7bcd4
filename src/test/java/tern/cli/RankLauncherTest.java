package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The launcher of {@code tern train --gpus N} on real processes (no GPU needed): the rank arguments, and
 * the watchdog that ends the whole job within seconds when one rank dies.
 */
class RankLauncherTest {

    @Test
    void eachRankGetsTheArgumentsLessGpusPlusItsPlace() {
        List<String> a = RankLauncher.rankArgs(new String[] {"train", "--gpus", "4", "--preset", "99M", "--gpus=2", "--out", "r",
                        "--nodes", "2", "--node-rank=1", "--master", "h:1", "--zero", "1"},
                6, 8, List.of("--rendezvous", "r/.nccl-id"), "job-1", 4711);
        assertEquals(List.of("train", "--preset", "99M", "--out", "r", "--zero", "1", "--rank", "6", "--ranks", "8",
                "--rendezvous", "r/.nccl-id", "--job", "job-1", "--heartbeat", "4711"), a);
    }

    @Test
    void aRankThatDiesEndsTheOthersWithinTheGracePeriod() throws Exception {
        Process healthy = new ProcessBuilder("sleep", "60").start();
        Process dying = new ProcessBuilder("sh", "-c", "sleep 0.3; exit 7").start();
        long start = System.nanoTime();
        List<Process> job = List.of(healthy, dying);
        int status = RankLauncher.watch(job);
        RankLauncher.stopAll(job);
        double seconds = (System.nanoTime() - start) / 1e9;
        assertEquals(7, status, "the failed rank's status is the job's");
        assertFalse(healthy.isAlive(), "the healthy rank was stopped");
        assertTrue(seconds < 1 + RankLauncher.GRACE_MILLIS / 1000.0, "ended in " + seconds + " s");
    }

    @Test
    void aRankIgnoringSigtermIsKilledAfterTheGracePeriod() throws Exception {
        Process stubborn = new ProcessBuilder("sh", "-c", "trap '' TERM; sleep 60").start();
        Thread.sleep(200);                                    // let the trap be set
        long start = System.nanoTime();
        RankLauncher.stopAll(List.of(stubborn));
        double seconds = (System.nanoTime() - start) / 1e9;
        assertFalse(stubborn.isAlive());
        assertTrue(seconds >= RankLauncher.GRACE_MILLIS / 1000.0 - 0.5 && seconds < RankLauncher.GRACE_MILLIS / 1000.0 + 2, "killed after " + seconds + " s");
    }

    @Test
    void allRanksFinishingCleanlyIsSuccess() throws Exception {
        assertEquals(0, RankLauncher.watch(List.of(new ProcessBuilder("true").start(), new ProcessBuilder("sh", "-c", "sleep 0.2").start())));
    }

    @Test
    void ranksRunWithTheLaunchersJvmOptionsLessItsClassPath() {
        assertEquals(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m", "-Dtern.simd=scalar"),
                RankLauncher.jvmOptions(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m",
                        "-cp", "a.jar:b", "-Dtern.simd=scalar", "tern.cli.Main", "train", "--gpus", "2")));
        assertEquals(List.of("-Xmx1g", "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"),
                RankLauncher.jvmOptions(List.of("-Xmx1g", "-classpath", "x", "tern.cli.Main")), "the modules tern needs are added");
    }

    @Test
    void eachGpuRankSeesOneDevice() {
        assertEquals("1", RankLauncher.visibleDevice(null, 1));
        assertEquals("5", RankLauncher.visibleDevice("2, 5,7", 1), "the r-th of the devices the launcher was given");
        UsageException e = org.junit.jupiter.api.Assertions.assertThrows(UsageException.class, () -> RankLauncher.visibleDevice("0,1", 2));
        assertTrue(e.getMessage().contains("CUDA_VISIBLE_DEVICES lists 2"), e.getMessage());
    }

    @Test
    void aPlanOfSeveralNodesNeedsTheMasterAndValidRanks() {
        RankLauncher.Plan p = new RankLauncher.Plan(4, 2, 1, "h:1", true);
        assertEquals(8, p.ranks());
        assertEquals(6, p.globalRank(2));
        org.junit.jupiter.api.Assertions.assertThrows(UsageException.class, () -> new RankLauncher.Plan(4, 2, 0, null, true));
        org.junit.jupiter.api.Assertions.assertThrows(UsageException.class, () -> new RankLauncher.Plan(4, 2, 2, "h:1", true));
        org.junit.jupiter.api.Assertions.assertThrows(UsageException.class, () -> new RankLauncher.Plan(0, 1, 0, null, false));
    }

    /**
     * A --tensor-parallel K that cannot split the job or the model is refused before a rank starts, each with
     * the reason: K not dividing the ranks, the heads (every head has its own KV head, so the KV heads too) or
     * the intermediate size; a ternary run with fewer absmean shards than slices; activation quantization
     * (per-token scales over a rank's slice); ZeRO-1 with one replica; accum not a multiple of the replicas;
     * K > 1 with no ranks at all. No data folder is read: the checks come first.
     */
    @Test
    void aTensorParallelDegreeThatCannotSplitIsRefusedWithTheReason() {
        String[][] cases = {
                {"--processes 3 --tensor-parallel 2", "--tensor-parallel 2 must divide the number of ranks (3)"},
                {"--processes 3 --tensor-parallel 3 --accum 3 --precision float", "needs the heads (4) divisible by 3"},
                {"--processes 4 --tensor-parallel 4 --accum 4 --precision float --intermediate 190", "needs the intermediate size (190) divisible by 4"},
                {"--processes 2 --tensor-parallel 2", "ternary shards (1) to be a multiple of 2"},
                {"--processes 2 --tensor-parallel 2 --precision float --act-bits 8", "does not support activation or KV quantization"},
                {"--processes 2 --tensor-parallel 2 --precision float --zero 1", "are one replica"},
                {"--processes 4 --tensor-parallel 2 --precision float --accum 1", "--accum 1 must be a multiple of the 2 data-parallel replicas"},
                {"--tensor-parallel 2 --precision float", "give --processes N (CPU) or --gpus N"},
                {"--processes 2 --tensor-parallel 0", "--tensor-parallel must be at least 1"},
        };
        for (String[] c : cases) {
            List<String> argv = new java.util.ArrayList<>(List.of("--preset", "tiny", "--data", "/nonexistent/tern-data", "--out", "/nonexistent/tern-run",
                    "--steps", "2"));
            argv.addAll(List.of(c[0].split(" ")));
            UsageException e = org.junit.jupiter.api.Assertions.assertThrows(UsageException.class, () -> TrainCommand.run(argv.toArray(String[]::new)), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
        }
    }
}
