package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tern.checkpoint.Json;
import tern.model.LlamaConfig;
import tern.runtime.Schedule;

/** The train config's layering, validation, JSON round trip and the presets' recipes. */
class TrainConfigTest {

    @Test
    void triLmGetsTheSpectraScheduleAndFloatLmTheLinearOne() {
        TrainConfig tri = TrainConfig.resolve(Map.of("preset", "99M", "precision", "ternary"));
        TrainConfig flt = TrainConfig.resolve(Map.of("preset", "99M", "precision", "float"));
        assertEquals("spectra", tri.schedule());
        assertEquals("linear", flt.schedule());
        assertEquals(2.4e-3, tri.lr(), 1e-12, "TriLM 99M peak");
        assertEquals(4e-4, flt.lr(), 1e-12, "FloatLM 99M peak");
        assertEquals(1.5e-3, tri.lr() * tri.lrCutRatio(), 1e-12, "TriLM 99M reduced peak");
        assertEquals(0.9, tri.beta1());
        assertEquals(0.95, tri.beta2());
        assertEquals(0.1, tri.weightDecay());
        // batches of 1M tokens for TriLM and 2M for FloatLM, sequences of 2048, 300B tokens in all
        assertEquals(1L << 20, tri.tokensPerStep());
        assertEquals(2L << 20, flt.tokensPerStep());
        assertEquals(300e9, (double) tri.steps() * tri.tokensPerStep(), 1e6 * tri.tokensPerStep());
        TrainConfig big = TrainConfig.resolve(Map.of("preset", "3.9B"));
        assertEquals(1.2e-3, big.lr(), 1e-12, "TriLM 3.9B peak");
        assertEquals(8e-4, big.lr() * big.lrCutRatio(), 1e-12, "TriLM 3.9B reduced peak");
    }

    @Test
    void everyModelPresetHasARecipe() {
        for (String p : LlamaConfig.presetNames())
            for (String precision : TrainConfig.PRECISIONS)
                assertEquals(p, TrainConfig.resolve(Map.of("preset", p, "precision", precision)).preset());
    }

    @Test
    void theSpectraScheduleCutsThePeakAtHalfAndDecayAtTwoThirds() {
        TrainConfig c = TrainConfig.resolve(Map.of("preset", "tiny", "steps", "300", "min_lr", "0"));
        Schedule s = c.scheduleFunction();
        double ratio = c.lrCutRatio();
        // just before the cut the rate is on the original line, just after it on the line scaled by the ratio
        Schedule.WarmupLinear line = new Schedule.WarmupLinear(c.lr(), 0, c.warmup(), 300, c.weightDecay());
        assertEquals(line.lr(149), s.lr(149), 1e-15);
        assertEquals(line.lr(150) * ratio, s.lr(150), 1e-15);
        assertEquals(0.1, s.weightDecay(199));
        assertEquals(0.0, s.weightDecay(200));
    }

    @Test
    void laterLayersWinAndCadenceFollowsTheSteps() {
        Map<String, Object> file = new LinkedHashMap<>(Json.parseObject("{\"steps\": 1000, \"batch\": 2, \"lr\": 0.01}"));
        file.put("lr", "0.002");                                    // a flag, as a string
        TrainConfig c = TrainConfig.resolve(file);
        assertEquals(1000, c.steps());
        assertEquals(2, c.batch());
        assertEquals(0.002, c.lr());
        assertEquals(30, c.warmup(), "the tiny preset's warmup fits in a 1000-step run");
        assertEquals(3, TrainConfig.resolve(Map.of("steps", 30)).warmup(), "a short run warms up over a tenth of it");
        assertEquals(100, c.evalEvery());
    }

    @Test
    void jsonRoundTripIsExact() {
        TrainConfig c = TrainConfig.resolve(Map.of("preset", "10M", "precision", "binary", "data", "d", "out", "o", "lr", "0.00123456789"));
        TrainConfig back = TrainConfig.fromMap(Json.parseObject(Json.write(c.toMap())));
        assertEquals(c, back);
    }

    @Test
    void badSettingsNameTheSetting() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(Map.of("batchsize", 3)))
                .getMessage().startsWith("unknown train setting 'batchsize'"));
        assertEquals("train setting 'clip' must not be negative (0 turns clipping off), got -1.0",
                assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(Map.of("clip", "-1"))).getMessage());
        assertEquals("train setting 'preset' must be a string, got 3",
                assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(Map.of("preset", 3L))).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.fromMap(Map.of("preset", "tiny")))
                .getMessage().startsWith("train config lacks the setting"));
    }
}
