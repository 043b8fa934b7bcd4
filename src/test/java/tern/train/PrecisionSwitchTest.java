package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.runtime.Backend;
import tern.runtime.Granularity;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.simd.CpuBackend;

/**
 * Continual QAT: the plan as a function of the step, the forward pass at the switch (λ = 0 is float, λ = 1 is
 * ternary, bit for bit), the optimizer kept or reset, the switch report, and resumption across the switch.
 */
class PrecisionSwitchTest {
    @TempDir static Path tmp;
    private static Path data;

    @BeforeAll
    static void makeData() throws IOException {
        data = TrainTestData.shards(GrammarCorpus.generate(5, 60_000), 300, 0.05, tmp.resolve("data"));
    }

    /** The default CPU backend: bit-reproducible across a resume on either kernel path (see ResumeTest). */
    private static Backend backend() { return new CpuBackend(); }

    private static PrecisionSwitch plan(long at, boolean reset, long phase) {
        return new PrecisionSwitch(LinearPolicy.FLOAT, new LinearPolicy.Ternary(1), at, reset, new PhaseIn(phase), 0, 0);
    }

    @Test
    void precisionFollowsTheStep() {
        PrecisionSwitch p = plan(10, false, 4);
        assertEquals(LinearPolicy.FLOAT, p.precisionAt(9).weights());
        assertEquals(new LinearPolicy.Ternary(1), p.precisionAt(10).weights());
        assertEquals(0f, p.precisionAt(10).phaseIn());
        assertEquals(0.5f, p.precisionAt(12).phaseIn());
        assertEquals(1f, p.precisionAt(14).phaseIn());
        assertEquals(10, p.nextChange(0));
        assertEquals(11, p.nextChange(10));
        assertEquals(14, p.nextChange(13));
        assertEquals(Long.MAX_VALUE, p.nextChange(14));
        assertFalse(p.resetsAt(10));
        assertTrue(plan(10, true, 0).resetsAt(10));
        assertFalse(plan(10, true, 0).resetsAt(11));
        assertEquals(Long.MAX_VALUE, PrecisionSwitch.constant(LinearPolicy.FLOAT, 0, 0).nextChange(0));
    }

    private static PrecisionPlan parse(Map<String, ?> settings) { return PrecisionPlan.fromSettings(settings, 1); }

    private static long switchAt(String at, long steps) {
        return parse(Map.of("precision", "float", "switch_to", "ternary", "switch_at", at)).resolve(steps).switchAt();
    }

    @Test
    void switchPointAsStepOrFraction() {
        assertEquals(150, switchAt("150", 600));
        assertEquals(150, switchAt("0.25", 600));
        assertEquals(0, switchAt("0.0", 600));
        assertEquals(600, switchAt("1.0", 600));
        assertThrows(IllegalArgumentException.class, () -> switchAt("1.5", 600));
        assertThrows(IllegalArgumentException.class, () -> switchAt("700", 600));
        assertThrows(IllegalArgumentException.class, () -> switchAt("half", 600));
        // a fraction stays a fraction in the plan; pinned (a resumed run that changes its length) it becomes its step
        PrecisionPlan f = parse(Map.of("precision", "float", "switch_to", "ternary", "switch_at", 0.25));
        assertEquals(new PrecisionPlan.AtFraction(0.25), f.change().at());
        assertEquals(new PrecisionPlan.AtStep(150), f.pinned(600).change().at());
        assertEquals(150, f.pinned(600).resolve(1200).switchAt());
    }

    @Test
    void settingsRoundTripAndBadOnesAreNamed() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("precision", "float");
        s.put("switch_to", "ternary");
        s.put("switch_at", "0.5");
        s.put("reset_optimizer", true);
        s.put("phase_in", 20);
        s.put("act_bits", 8);
        PrecisionPlan p = parse(s);
        assertEquals(200, p.resolve(400).switchAt());
        assertTrue(p.resolve(400).resetOptimizer());
        assertEquals(p, parse(Json.parseObject(Json.write(p.toMap()))));
        PrecisionPlan k = parse(Map.of("weight_bits", 4, "kv_bits", 6));
        assertEquals(new LinearPolicy.Int(4, Granularity.ROW), k.resolve(400).precisionAt(0).weights());
        assertEquals(6, k.resolve(400).precisionAt(0).kvBits());
        assertEquals("float", k.recipe(), "k-bit runs train with the float recipe");
        assertEquals(k, parse(Json.parseObject(Json.write(k.toMap()))));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse(Map.of("switch_to", "ternary")))
                .getMessage().contains("switch_at"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse(Map.of("phase_in", 3)))
                .getMessage().contains("switch_to"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse(Map.of("act_bits", 1)))
                .getMessage().contains("activationBits"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse(Map.of("wieght_bits", 4)))
                .getMessage().contains("wieght_bits"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse(Map.of("precision", "ternary", "weight_bits", 4)))
                .getMessage().contains("contradict"));
    }

    /** λ = 0 at the switch step gives the float forward exactly, λ = 1 the ternary one exactly. */
    @Test
    void forwardAtTheSwitchIsWhatThePolicySays() {
        Backend b = backend();
        LlamaConfig shape = LlamaConfig.preset("tiny");
        try (LlamaModel m = new LlamaModel(b, shape)) {
            m.initialize(3);
            int[] ids = new int[16];
            for (int i = 0; i < ids.length; i++) ids[i] = (i * 37) % shape.vocabSize();
            m.setPrecision(Precision.FLOAT);
            float[] floatLogits = logits(m, ids);
            m.setPrecision(Precision.of(new LinearPolicy.Ternary(1)));
            float[] ternaryLogits = logits(m, ids);
            assertFalse(java.util.Arrays.equals(floatLogits, ternaryLogits), "ternary must change the forward");
            PrecisionSwitch p = plan(5, false, 4);
            m.setPrecision(p.precisionAt(4));
            assertArrayEquals(floatLogits, logits(m, ids), 0f);
            m.setPrecision(p.precisionAt(5));                    // the switch step: λ = 0
            assertArrayEquals(floatLogits, logits(m, ids), 0f);
            m.setPrecision(p.precisionAt(7));                    // λ = 1/2: neither
            float[] half = logits(m, ids);
            assertFalse(java.util.Arrays.equals(floatLogits, half) || java.util.Arrays.equals(ternaryLogits, half));
            m.setPrecision(p.precisionAt(9));                    // λ = 1
            assertArrayEquals(ternaryLogits, logits(m, ids), 0f);
            m.setPrecision(plan(5, false, 0).precisionAt(5));   // abrupt: ternary at the switch step
            assertArrayEquals(ternaryLogits, logits(m, ids), 0f);
        }
    }

    private static float[] logits(LlamaModel m, int[] ids) {
        try (Tape t = new Tape(m.backend(), false)) {
            return m.logits(t, ids, 1, ids.length).value.toFloatArray();
        }
    }

    /** The switch float → ternary at {@code at} as train settings. */
    private static Map<String, Object> switching(long at, boolean reset, long phase) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("switch_to", "ternary");
        m.put("switch_at", at);
        m.put("reset_optimizer", reset);
        m.put("phase_in", phase);
        return m;
    }

    private static TrainConfig config(Path out, long steps) { return config(out, steps, Map.of()); }

    private static TrainConfig config(Path out, long steps, Map<String, ?> more) {
        Map<String, Object> s = TrainTestData.tinyRun("float", data, out, steps);
        s.putAll(more);
        s.put("eval_every", 3);
        s.put("eval_batches", 2);
        s.put("save_every", 3);
        s.put("keep", 0);
        s.put("clip", 0.0);                                      // so the first moment after a reset is exactly (1 − β1)·g
        return TrainConfig.resolve(s);
    }

    /** With a reset the moments restart (one update after the switch: step 1, m = (1 − β1)·g); kept, they go on. */
    @Test
    void optimizerStateKeptOrReset() throws IOException {
        for (boolean reset : new boolean[]{false, true}) {
            Path out = tmp.resolve("opt-" + reset);
            try (TrainRun run = TrainRun.start(config(out, 6, switching(3, reset, 0)), backend())) {
                run.run(3, null, null);
                assertEquals(3, run.trainer().optimizer().step());
                assertEquals(LinearPolicy.FLOAT, run.model().precision().weights());
                run.run(4, null, null);
                assertEquals(new LinearPolicy.Ternary(1), run.model().precision().weights());
                assertEquals(reset ? 1 : 4, run.trainer().optimizer().step());
                Parameter q = run.model().parameter("model.layers.0.self_attn.q_proj.weight");
                float[] m = run.trainer().optimizer().fullMoments().first(q).toFloatArray(), g = q.grad.toFloatArray();
                double worst = 0, scale = 0;
                for (int i = 0; i < m.length; i++) {
                    worst = Math.max(worst, Math.abs(m[i] - (1 - run.trainer().optimizer().beta1()) * g[i]));
                    scale = Math.max(scale, Math.abs(g[i]));
                }
                if (reset) assertTrue(worst <= 1e-6 * scale, "reset: m should be (1 − β1)·g, off by " + worst);
                else assertTrue(worst > 1e-3 * scale, "kept: m should remember the float steps");

                Map<String, Object> sw = Json.parseObject(Files.readString(out.resolve(TrainRun.SWITCH_LOG)));
                assertEquals(3L, ((Number) sw.get("step")).longValue());
                assertEquals(reset ? "reset" : "kept", sw.get("optimizer"));
                for (String k : new String[]{"val_loss_before", "val_loss_quantized", "train_loss_before", "train_loss_after"})
                    assertNotNull(sw.get(k), k + " missing from " + sw);
                assertNotEquals(sw.get("val_loss_before"), sw.get("val_loss_quantized"), "quantizing the same weights changes the loss");
            }
        }
    }

    /** Interrupted after the switch and resumed, a reset + phase-in run ends with the uninterrupted run's exact weights. */
    @Test
    void resumeAcrossTheSwitchIsExact() throws IOException {
        PrecisionSwitch p = plan(2, true, 3);
        Map<String, Object> more = switching(2, true, 3);
        more.putAll(Map.of("hidden", 32, "intermediate", 64, "layers", 2, "heads", 2));
        float[] straight, resumed;
        try (TrainRun run = TrainRun.start(config(tmp.resolve("straight"), 8, more), backend())) {
            run.run(8, null, null);
            straight = weights(run.model());
        }
        Path out = tmp.resolve("resumed");
        try (TrainRun run = TrainRun.start(config(out, 8, more), backend())) {
            run.run(4, null, null);                              // stops inside the phase-in, checkpointed at 3 and 4
        }
        try (TrainRun run = TrainRun.resume(out, Map.of(), backend())) {
            assertEquals(4, run.trainer().step());
            assertEquals(2, run.trainer().optimizer().step(), "the reset at step 2 restarted Adam's count");
            assertEquals(p.precisionAt(4), run.model().precision());
            assertEquals(32, run.model().config().hidden());
            run.run(8, null, null);
            resumed = weights(run.model());
        }
        assertArrayEquals(straight, resumed, 0f);
    }

    private static float[] weights(LlamaModel m) {
        return m.parameter("model.layers.1.mlp.down_proj.weight").value.toFloatArray();
    }

    /** --weight-bits 4 --act-bits 8 --kv-bits 6: the model trains in that precision and its checkpoint says so. */
    @Test
    void kBitTrainingIsWired() throws IOException {
        Path out = tmp.resolve("kbit");
        Map<String, Object> kbit = Map.of("weight_bits", "4", "act_bits", "8", "kv_bits", "6");
        try (TrainRun run = TrainRun.start(config(out, 2, kbit), backend())) {
            Trainer.Result r = run.run(2, null, null);
            assertTrue(Double.isFinite(r.lastValidationLoss()));
            assertEquals(new Precision(new LinearPolicy.Int(4, Granularity.ROW), 1f, 8, 6), run.model().precision());
        }
        Map<String, Object> config = Json.parseObject(Files.readString(TrainCheckpoint.find(out).resolve(TrainCheckpoint.CONFIG)));
        assertEquals("int4-row", config.get("tern_precision"));
        assertEquals(8L, ((Number) config.get("tern_activation_bits")).longValue());
        assertEquals(6L, ((Number) config.get("tern_kv_bits")).longValue());
    }

    @Test
    void initFromAnotherCheckpoint() throws IOException {
        Path first = tmp.resolve("init-src");
        try (TrainRun run = TrainRun.start(config(first, 3), backend())) {
            run.run(3, null, null);
        }
        float[] trained;
        try (LlamaModel m = TrainCheckpoint.loadModel(first, backend())) {
            trained = weights(m);
        }
        try (TrainRun run = TrainRun.start(config(tmp.resolve("init-dst"), 3, switching(0, false, 0)), backend(), first)) {
            assertArrayEquals(trained, weights(run.model()), 0f);
        }
    }

    /**
     * A run folder of the earlier layout (the plan in RUN/precision_switch.json, the checkpoint's config holding
     * only the recipe's precision) resumes with its plan: the switch and its reset of Adam's count included.
     */
    @Test
    void anOlderSwitchRunFolderResumes() throws IOException {
        Path now = tmp.resolve("layout-now");
        try (TrainRun run = TrainRun.start(config(now, 6, switching(1, true, 0)), backend())) {
            run.run(3, null, null);
        }
        Path ckpt = TrainCheckpoint.find(now);
        Map<String, Object> state = Json.parseObject(Files.readString(ckpt.resolve(TrainCheckpoint.STATE)));
        @SuppressWarnings("unchecked") Map<String, Object> config = (Map<String, Object>) state.get("config");
        for (String k : PrecisionPlan.KEYS) config.remove(k);
        config.put("precision", "float");
        Map<String, tern.checkpoint.AtomicFiles.Content> files = new LinkedHashMap<>();
        try (var list = Files.list(ckpt)) {
            for (Path f : list.toList()) {
                String name = f.getFileName().toString();
                if (name.equals(tern.checkpoint.CheckpointManifest.FILE)) continue;
                byte[] bytes = name.equals(TrainCheckpoint.STATE) ? Json.pretty(state).getBytes(java.nio.charset.StandardCharsets.UTF_8) : Files.readAllBytes(f);
                files.put(name, out -> out.write(java.nio.ByteBuffer.wrap(bytes)));
            }
        }
        Path old = tmp.resolve("layout-old");
        new tern.checkpoint.CheckpointWriter(old.resolve(TrainCheckpoint.FOLDER)).write(ckpt.getFileName().toString(), files);
        Files.writeString(old.resolve(PrecisionSwitch.LEGACY_FILE),
                "{\"precision\": \"float\", \"switch_to\": \"ternary\", \"switch_at\": 1, \"reset_optimizer\": true, \"phase_in\": 0, \"act_bits\": 0, \"kv_bits\": 0}");
        try (TrainRun run = TrainRun.resume(old, Map.of(), backend())) {
            assertEquals(3, run.trainer().step());
            assertEquals(2, run.trainer().optimizer().step(), "Adam's count restarted at the switch");
            assertEquals(plan(1, true, 0), run.schedule());
            assertEquals(new LinearPolicy.Ternary(1), run.model().precision().weights());
            run.run(4, null, null);
        }
    }
}
