package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tern.runtime.Backend;
import tern.simd.CpuBackend;

/**
 * Exact resumption on the CPU: a run interrupted and continued from its checkpoint logs the same losses,
 * learning rates and gradient norms, bit for bit, as the run done in one go, and ends with byte-identical
 * weights and optimizer moments. Gradient accumulation (2 micro-batches) and validation are on, so the
 * sampler cursor and the "validation draws no random numbers" claims are exercised too.
 */
class ResumeTest {
    private static final long STEPS = 12;

    @TempDir static Path shared;
    private static Path data;

    @BeforeAll
    static void makeData() throws IOException {
        data = TrainTestData.grammarShards(shared.resolve("data"));
    }

    /**
     * The default CPU backend (Vector API where present). Its kernels give the same bits cold and warm
     * (fixed-order lane sums, an exp from basic IEEE operations: see JitDeterminismTest), which is what lets
     * a resumed JVM, starting cold, continue a warm run bit for bit.
     */
    private static Backend backend() {
        return new CpuBackend();
    }

    private static Map<String, Object> settings(String precision, Path out) {
        Map<String, Object> m = TrainTestData.tinyRun(precision, data, out, STEPS);
        m.put("accum", 2);
        m.put("eval_every", 3);
        m.put("eval_batches", 2);
        m.put("save_every", 4);
        m.put("keep", 2);
        return m;
    }

    private static void straight(String precision, Path out) throws IOException {
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(precision, out)), backend())) {
            Trainer.Result r = run.run(STEPS, null, null);
            assertEquals(STEPS, r.step());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ternary", "float"})
    void sixStepsThenSixResumedEqualTwelveStraight(String precision, @TempDir Path tmp) throws IOException {
        Path a = tmp.resolve("straight"), b = tmp.resolve("resumed");
        straight(precision, a);
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(precision, b)), backend())) {
            Trainer.Result r = run.run(6, null, null);
            assertEquals(6, r.step());
            assertEquals(b.resolve("checkpoints/step-000006"), r.lastCheckpoint(), "a paused run saves where it paused");
        }
        try (TrainRun run = TrainRun.resume(b, Map.of(), backend())) {
            assertEquals(6, run.trainer().step());
            run.run(STEPS, null, null);
        }
        assertSameRun(a, b);
    }

    /**
     * A stop request (what Ctrl-C raises) ends the run at the next step boundary with a checkpoint; then a
     * "crash": the newest checkpoint disappears, a torn {@code .tmp} folder is left behind, and the log
     * holds steps past the surviving checkpoint. Resuming picks the last complete checkpoint, drops the
     * log's tail, and still repeats the straight run exactly.
     */
    @Test
    void stopThenCrashThenResumeStillMatches(@TempDir Path tmp) throws IOException {
        Path a = tmp.resolve("straight"), b = tmp.resolve("interrupted");
        straight("ternary", a);
        TrainerStop stop = new TrainerStop();
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings("ternary", b)), backend())) {
            Path tokenizer = data.resolve(TrainCheckpoint.TOKENIZER);
            Trainer.Checkpointer stopAfterFirstSave = t -> {
                Path dir = TrainCheckpoint.save(t, run.checkpoints(), tokenizer);
                stop.request();                                  // as if Ctrl-C came during step 4
                return dir;
            };
            Trainer.Result r = run.trainer().run(STEPS, run.log(), null, stopAfterFirstSave, stop);
            assertTrue(r.stopped());
            assertEquals(4, r.step());
        }
        try (TrainRun run = TrainRun.resume(b, Map.of(), backend())) {
            assertEquals(4, run.trainer().step());
            assertEquals(7, run.run(7, null, null).step());
        }
        // the crash: step 7's checkpoint is gone (its marker still names it), a torn save is left over
        Path checkpoints = b.resolve("checkpoints");
        deleteTree(checkpoints.resolve("step-000007"));
        Files.createDirectories(checkpoints.resolve("step-000008.tmp"));
        Files.writeString(checkpoints.resolve("step-000008.tmp/training_state.json"), "{\"torn");
        assertEquals(7, TrainLog.readSteps(b.resolve(TrainLog.FILE)).size(), "the log ran ahead of the checkpoint");

        try (TrainRun run = TrainRun.resume(b, Map.of(), backend())) {
            assertEquals(4, run.trainer().step(), "resumes from the newest complete checkpoint");
            run.run(STEPS, null, null);
        }
        assertSameRun(a, b);
    }

    private static void assertSameRun(Path a, Path b) throws IOException {
        List<TrainLog.Step> sa = TrainLog.readSteps(a.resolve(TrainLog.FILE));
        List<TrainLog.Step> sb = TrainLog.readSteps(b.resolve(TrainLog.FILE));
        assertEquals(STEPS, sa.size());
        assertEquals(sa.size(), sb.size(), "both logs hold every step once");
        for (int i = 0; i < sa.size(); i++) {
            TrainLog.Step x = sa.get(i), y = sb.get(i);
            assertEquals(i + 1, y.step());
            assertEquals(Float.floatToRawIntBits(x.loss()), Float.floatToRawIntBits(y.loss()),
                    "loss of step " + (i + 1) + ": " + x.loss() + " straight vs " + y.loss() + " resumed");
            assertEquals(Double.doubleToRawLongBits(x.gradNorm()), Double.doubleToRawLongBits(y.gradNorm()), "grad norm of step " + (i + 1));
            assertEquals(x.lr(), y.lr(), "lr of step " + (i + 1));
            assertEquals(x.weightDecay(), y.weightDecay(), "weight decay of step " + (i + 1));
            assertEquals(x.tokens(), y.tokens());
        }
        List<TrainLog.Validation> va = TrainLog.readValidations(a.resolve(TrainLog.FILE));
        List<TrainLog.Validation> vb = TrainLog.readValidations(b.resolve(TrainLog.FILE));
        assertEquals(STEPS / 3, va.size());
        assertEquals(va, vb, "validation losses");
        // losses moved: the comparison is not between two constant curves
        assertFalse(sa.getFirst().loss() == sa.getLast().loss());
        Path fa = a.resolve("checkpoints/step-000012"), fb = b.resolve("checkpoints/step-000012");
        for (String f : List.of(TrainCheckpoint.MODEL, TrainCheckpoint.OPTIMIZER))
            assertEquals(-1L, Files.mismatch(fa.resolve(f), fb.resolve(f)), f + " differs between the straight and the resumed run");
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
