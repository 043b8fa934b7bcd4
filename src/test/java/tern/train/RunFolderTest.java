package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.TrainingState;
import tern.simd.CpuBackend;

/**
 * Issue #14, item 1: a resumed run lives in the folder given to resume, whatever folder its checkpoint
 * recorded; the data folder is recorded so that it is found from anywhere; and a run folder is locked while
 * a trainer writes to it.
 */
class RunFolderTest {
    @TempDir static Path tmp;
    private static Path data;

    @BeforeAll
    static void makeData() throws IOException {
        data = TrainTestData.shards(GrammarCorpus.generate(9, 30_000), 300, 0.05, tmp.resolve("data"));
    }

    private static TrainConfig config(Path dataDir, Path out) {
        Map<String, Object> s = TrainTestData.tinyRun("ternary", dataDir, out, 4);
        s.put("batch", 2);
        s.put("seq", 16);
        s.put("save_every", 2);
        s.put("eval_every", 2);
        s.put("eval_batches", 1);
        s.put("keep", 1);
        return TrainConfig.resolve(s);
    }

    /**
     * A copy of a run, resumed, writes its checkpoints and log into the copy; the original keeps its one
     * checkpoint, its latest marker and its log exactly as they were (today's code wrote into the original).
     */
    @Test
    void aCopiedRunResumesInTheCopy() throws IOException {
        Path original = tmp.resolve("original");
        try (TrainRun run = TrainRun.start(config(data, original), new CpuBackend())) {
            assertEquals(2, run.run(2, null, null).step());
        }
        Path copy = tmp.resolve("copy");
        copyTree(original, copy);
        Map<Path, byte[]> before = snapshot(original);

        try (TrainRun run = TrainRun.resume(copy, Map.of(), new CpuBackend())) {
            assertEquals(2, run.trainer().step());
            assertEquals(copy.toAbsolutePath().normalize(), run.out());
            assertEquals(4, run.run(4, null, null).step());
        }
        Map<Path, byte[]> after = snapshot(original);
        assertEquals(before.keySet(), after.keySet(), "no file of the original run appeared or vanished");
        for (Path p : before.keySet()) assertTrue(java.util.Arrays.equals(before.get(p), after.get(p)), p + " of the original run changed");
        assertTrue(Files.isDirectory(copy.resolve("checkpoints/step-000004")), "the resumed run checkpoints into the copy");
        assertFalse(Files.exists(copy.resolve("checkpoints/step-000002")), "keep 1 pruned the copy's own older checkpoint");
        assertEquals(4, TrainLog.readSteps(copy.resolve(TrainLog.FILE)).size(), "the copy's log holds all four steps");
        Map<String, Object> recorded = TrainingState.read(copy.resolve("checkpoints/step-000004")).config();
        assertEquals(copy.toAbsolutePath().normalize().toString(), recorded.get("out"));
    }

    /** A data folder given relative to the working directory is recorded absolute, so a resume from elsewhere finds it. */
    @Test
    void theDataFolderIsRecordedAbsolute() throws IOException {
        Path relative = Path.of("").toAbsolutePath().relativize(data.toAbsolutePath());
        assertFalse(relative.isAbsolute());
        Path out = tmp.resolve("relative-data");
        try (TrainRun run = TrainRun.start(config(relative, out), new CpuBackend())) {
            run.run(2, null, null);
        }
        Object recorded = TrainingState.read(TrainCheckpoint.find(out)).config().get("data");
        assertTrue(Path.of((String) recorded).isAbsolute(), "recorded data folder " + recorded);
        assertEquals(data.toAbsolutePath().normalize(), Path.of((String) recorded));
    }

    /** While one trainer has a run folder open, a second one (start or resume) is refused; once it closes, resume works. */
    @Test
    void aSecondTrainerOnTheSameFolderIsRefused() throws IOException {
        Path out = tmp.resolve("locked");
        try (TrainRun first = TrainRun.start(config(data, out), new CpuBackend())) {
            IOException again = assertThrows(IOException.class, () -> TrainRun.start(config(data, out), new CpuBackend()).close());
            assertTrue(again.getMessage().contains("in use by another trainer"), again.getMessage());
            first.run(2, null, null);
            IOException resumed = assertThrows(IOException.class, () -> TrainRun.resume(out, Map.of(), new CpuBackend()).close());
            assertTrue(resumed.getMessage().contains("in use by another trainer"), resumed.getMessage());
            assertTrue(resumed.getMessage().contains("pid " + ProcessHandle.current().pid()), "names the holder: " + resumed.getMessage());
        }
        try (TrainRun run = TrainRun.resume(out, Map.of(), new CpuBackend())) {
            assertEquals(2, run.trainer().step());
        }
    }

    /** The folder given may be the run, its checkpoints folder or one checkpoint: the run lives in the run folder. */
    @Test
    void resumeFromACheckpointFolderWritesIntoItsRun() throws IOException {
        Path out = tmp.resolve("by-checkpoint");
        try (TrainRun run = TrainRun.start(config(data, out), new CpuBackend())) {
            run.run(2, null, null);
        }
        try (TrainRun run = TrainRun.resume(out.resolve("checkpoints/step-000002"), Map.of(), new CpuBackend())) {
            assertEquals(out.toAbsolutePath().normalize(), run.out());
        }
        try (TrainRun run = TrainRun.resume(out.resolve("checkpoints"), Map.of(), new CpuBackend())) {
            assertEquals(out.toAbsolutePath().normalize(), run.out());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainRun.resume(out, Map.of("out", tmp.resolve("elsewhere").toString()), new CpuBackend()).close());
        assertTrue(e.getMessage().contains("lives in the folder given to --resume"), e.getMessage());
    }

    private static Map<Path, byte[]> snapshot(Path dir) throws IOException {
        Map<Path, byte[]> m = new java.util.TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList())
                if (!p.getFileName().toString().equals(RunLock.FILE)) m.put(dir.relativize(p), Files.readAllBytes(p));
        }
        return m;
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target);
            }
        }
    }
}
