package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;
import tern.train.Fault;
import tern.train.NanPolicy;
import tern.train.TrainConfig;
import tern.train.TrainLog;
import tern.train.TrainRun;
import tern.train.TrainingDiverged;

/**
 * The {@code --on-nan} policies on a real training run with a NaN injected into one gradient at a chosen
 * step ({@link Fault}). Each policy is checked against what it promises, bit for bit: a skipped step equals
 * a clean run that drew and dropped that batch; a rollback equals a clean run that dropped the batch at the
 * same step, whether it replays steps from an older checkpoint or not, and falls back past a damaged
 * latest checkpoint. The default CPU backend repeats itself exactly, cold or warm (JitDeterminismTest).
 */
class NanPolicyTest {
    private static final long STEPS = 10;

    @TempDir static Path shared;
    private static Path data;
    @TempDir Path tmp;

    @BeforeAll
    static void makeData() throws IOException {
        data = ReliabilityData.grammarShards(shared.resolve("data"));
    }

    @AfterEach
    void forgetInjections() { Fault.clear(); }

    private static Map<String, Object> settings(Path out) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", "tiny");
        m.put("precision", "ternary");
        m.put("data", data.toString());
        m.put("out", out.toString());
        m.put("steps", STEPS);
        m.put("batch", 2);
        m.put("seq", 16);
        m.put("seed", 7L);
        m.put("save_every", 3);
        m.put("keep", 5);
        m.put("eval_every", 0);
        return m;
    }

    private static TrainRun start(Path out) throws IOException {
        return TrainRun.start(TrainConfig.resolve(settings(out)), new CpuBackend());
    }

    /** Final weights of a clean run that draws and drops one step's batch just before step {@code droppedAt}. */
    private Map<String, float[]> cleanDropping(long droppedAt) throws IOException {
        try (TrainRun run = start(tmp.resolve("clean-" + droppedAt))) {
            run.run(droppedAt - 1, null, null);
            run.trainer().sampler().next();                         // accum is 1: one batch per step
            assertEquals(STEPS, run.run(STEPS, null, null).step());
            return weights(run);
        }
    }

    private static Map<String, float[]> weights(TrainRun run) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Parameter p : run.model().parameters()) out.put(p.name, run.model().backend().download(p.value));
        return out;
    }

    private static void assertSameWeights(Map<String, float[]> expected, Map<String, float[]> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        for (String n : expected.keySet()) assertArrayEquals(expected.get(n), actual.get(n), n);
    }

    /** Runs with the policy, recording every divergence the handler saw. */
    private static List<TrainingDiverged> runWith(TrainRun run, NanPolicy policy) {
        List<TrainingDiverged> seen = new ArrayList<>();
        NanPolicy.Handler h = policy.handler(run.checkpoints());
        run.trainer().onNan((t, e, p) -> {
            seen.add(e);
            h.handle(t, e, p);
        });
        assertEquals(STEPS, run.run(STEPS, null, null).step());
        return seen;
    }

    @Test
    void stopReportsTheStepAndTheFirstBadTensorAndKeepsTheLastCheckpoint() throws IOException {
        Path out = tmp.resolve("stop");
        try (TrainRun run = start(out)) {
            String target = Fault.defaultTarget(run.model().parameters());
            Fault.injectNan(5, null);
            TrainingDiverged e = assertThrows(TrainingDiverged.class, () -> run.run(STEPS, null, null));
            assertEquals(5, e.step());
            assertEquals(target, e.parameter());
            assertEquals("training diverged at step 5: the gradient norm is NaN (first bad gradient: " + target + ")", e.getMessage());
            assertEquals(4, run.trainer().step());
            assertEquals(4, run.trainer().optimizer().step());
        }
        assertEquals(4, TrainLog.readSteps(out.resolve(TrainLog.FILE)).size());
        assertEquals(out.resolve("checkpoints/step-000003"), tern.train.TrainCheckpoint.find(out));
    }

    @Test
    void skipDropsTheBatchAndContinues() throws IOException {
        Map<String, float[]> expected = cleanDropping(5);
        try (TrainRun run = start(tmp.resolve("skip"))) {
            Fault.injectNan(5, null);
            List<TrainingDiverged> seen = runWith(run, NanPolicy.SKIP);
            assertEquals(1, seen.size());
            assertEquals(5, seen.getFirst().step());
            assertEquals(STEPS, run.trainer().optimizer().step(), "one update per step, none for the skipped batch");
            assertSameWeights(expected, weights(run));
            List<TrainLog.Step> log = TrainLog.readSteps(run.log().file());
            assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L), log.stream().map(TrainLog.Step::step).toList());
            assertTrue(log.stream().allMatch(s -> Float.isFinite(s.loss())));
        }
    }

    @Test
    void skipStopsWhenEveryBatchDiverges() throws IOException {
        try (TrainRun run = start(tmp.resolve("skip-poisoned"))) {
            run.run(4, null, null);
            run.model().parameter("model.layers.1.self_attn.q_proj.weight").value.set(3, Float.NaN);
            NanPolicy.Handler h = NanPolicy.SKIP.handler(run.checkpoints());
            List<TrainingDiverged> seen = new ArrayList<>();
            run.trainer().onNan((t, e, p) -> {
                seen.add(e);
                h.handle(t, e, p);
            });
            TrainingDiverged e = assertThrows(TrainingDiverged.class, () -> run.run(STEPS, null, null));
            assertEquals(5, e.step());
            assertEquals(NanPolicy.MAX_RETRIES + 1, seen.size(), "tries of step 5 before giving up");
            assertEquals(4, run.trainer().optimizer().step());
        }
    }

    @Test
    void rollbackRightAfterACheckpointEqualsDroppingTheBatch() throws IOException {
        Map<String, float[]> expected = cleanDropping(7);
        try (TrainRun run = start(tmp.resolve("rollback7"))) {
            Fault.injectNan(7, null);
            List<TrainingDiverged> seen = runWith(run, NanPolicy.ROLLBACK);
            assertEquals(List.of(7L), seen.stream().map(TrainingDiverged::step).toList());
            assertSameWeights(expected, weights(run));
        }
    }

    @Test
    void rollbackReplaysFromAnOlderCheckpointExactly() throws IOException {
        Map<String, float[]> expected = cleanDropping(8);
        try (TrainRun run = start(tmp.resolve("rollback8"))) {
            Fault.injectNan(8, null);
            runWith(run, NanPolicy.ROLLBACK);                       // back to step 6, step 7 replayed, batch 8 dropped
            assertSameWeights(expected, weights(run));
            assertEquals(STEPS, TrainLog.readSteps(run.log().file()).size(), "replayed steps are not logged twice");
        }
    }

    @Test
    void rollbackFallsBackPastADamagedLatestCheckpoint() throws IOException {
        Map<String, float[]> expected = cleanDropping(8);
        try (TrainRun run = start(tmp.resolve("rollback-damaged"))) {
            run.run(7, null, null);
            flipByte(run.checkpoints().resolve("step-000007").resolve("model.safetensors"), 4096);
            Fault.injectNan(8, null);
            runWith(run, NanPolicy.ROLLBACK);                       // step-000007 fails its CRC: back to 6, replay 7, drop 8
            assertSameWeights(expected, weights(run));
        }
    }

    @Test
    void rollbackWithoutACheckpointStops() throws IOException {
        try (TrainRun run = start(tmp.resolve("rollback-none"))) {
            Fault.injectNan(2, null);
            run.trainer().onNan(NanPolicy.ROLLBACK.handler(run.checkpoints()));
            TrainingDiverged e = assertThrows(TrainingDiverged.class, () -> run.run(STEPS, null, null));
            assertEquals(2, e.step());
            assertEquals(1, run.trainer().step());
        }
    }

    @Test
    void policyNamesParse() {
        assertEquals(NanPolicy.ROLLBACK, NanPolicy.parse("Rollback"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NanPolicy.parse("ignore"));
        assertEquals("--on-nan must be stop, skip or rollback, not 'ignore'", e.getMessage());
    }

    static void flipByte(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x5A));
            b.rewind();
            ch.write(b, at);
        }
    }
}
