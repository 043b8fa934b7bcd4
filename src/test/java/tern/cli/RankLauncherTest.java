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
}
