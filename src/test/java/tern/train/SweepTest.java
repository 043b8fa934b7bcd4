package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.runtime.Backend;
import tern.simd.CpuBackend;
import tern.simd.ScalarFloatKernels;

/** A grid of runs: parsed with its errors named, run into one folder each, finished runs skipped, a stopped run resumed exactly. */
class SweepTest {
    @TempDir static Path tmp;
    private static Path data;

    @BeforeAll
    static void makeData() throws IOException {
        data = TrainTestData.shards(GrammarCorpus.generate(7, 40_000), 300, 0.05, tmp.resolve("data"));
    }

    private static Backend backend() { return new CpuBackend(ScalarFloatKernels.INSTANCE); }

    private static SweepGrid grid(Path out) {
        String json = """
                {"data": "%s", "out": "%s",
                 "defaults": {"preset": "tiny", "steps": 4, "batch": 2, "seq": 16, "eval_every": 2, "eval_batches": 1, "save_every": 2, "keep": 0,
                              "shape": {"hidden": 16, "intermediate": 32, "layers": 1, "heads": 2}},
                 "runs": [{"name": "f", "precision": "float"},
                          {"name": "sw", "precision": "float", "switch_to": "ternary", "switch_at": 0.5, "phase_in": 1}]}
                """.formatted(data, out);
        return SweepGrid.parse(Json.parse(json), "test grid");
    }

    @Test
    void runsSkipsAndResumes() throws IOException {
        Path straight = tmp.resolve("straight");
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        List<Map<String, Object>> first = Sweep.run(grid(straight), backend(), quiet, null);
        assertEquals(2, first.size());
        Map<String, Object> sw = first.get(1);
        assertEquals("sw", sw.get("name"));
        assertEquals(Math.log(3) / Math.log(2), ((Number) sw.get("weight_bits")).doubleValue(), 1e-12);
        assertEquals(2, ((List<?>) sw.get("val_curve")).size());
        assertTrue(((Map<?, ?>) sw.get("switch")).containsKey("val_loss_quantized"));
        assertEquals(16L, ((Number) first.get(0).get("weight_bits")).longValue());
        assertEquals(4 * 16 * 16 + 3 * 16 * 32, ((Number) first.get(0).get("non_embedding_params")).longValue());   // 1 layer: q, k, v, o + gate, up, down

        // again: both finished, nothing retrained
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<Map<String, Object>> again = Sweep.run(grid(straight), backend(), new PrintStream(log, true, StandardCharsets.UTF_8), null);
        for (int i = 0; i < 2; i++) assertEquals(Json.write(first.get(i)), Json.write(again.get(i)));   // JSON numbers come back as Long
        assertEquals(2, log.toString(StandardCharsets.UTF_8).split("skipped", -1).length - 1);

        // stopped after the switch run's step 2 (its switch), then continued: the same validation curve, bit for bit
        Path interrupted = tmp.resolve("interrupted");
        TrainerStop stop = new TrainerStop();
        PrintStream tripwire = new PrintStream(new OutputStream() {
            private final StringBuilder line = new StringBuilder();
            @Override public void write(int b) {
                line.append((char) b);
                if (line.toString().contains("[2/2]") && line.toString().contains("step 2/4")) stop.request();
            }
        }, true);
        List<Map<String, Object>> partial = Sweep.run(grid(interrupted), backend(), tripwire, stop);
        assertEquals(1, partial.size(), "the sweep stops inside its second run");
        assertFalse(Files.exists(interrupted.resolve("sw").resolve(Sweep.RESULT)));
        List<Map<String, Object>> resumed = Sweep.run(grid(interrupted), backend(), quiet, null);
        assertEquals(2, resumed.size());
        assertEquals(Json.write(Map.of("c", first.get(1).get("val_curve"))), Json.write(Map.of("c", resumed.get(1).get("val_curve"))));
        assertEquals(Json.write(first.get(1).get("switch")), Json.write(resumed.get(1).get("switch")));
    }

    @Test
    void gridErrorsAreNamed() {
        assertTrue(bad("[{\"precision\": \"float\"}]").contains("name"));
        assertTrue(bad("[{\"name\": \"a\"}, {\"name\": \"a\"}]").contains("two runs are named 'a'"));
        assertTrue(bad("[{\"name\": \"a\", \"stepz\": 3}]").contains("stepz"));
        assertTrue(bad("{\"runs\": []}").contains("non-empty"));
        assertTrue(bad("{\"rums\": [{\"name\": \"a\"}]}").contains("rums"));
        assertTrue(bad("[{\"name\": \"../up\"}]").contains("name"));
        SweepGrid g = SweepGrid.parse(Json.parse("{\"defaults\": {\"steps\": 5, \"act_bits\": 8}, \"runs\": [{\"name\": \"a\", \"steps\": 7, \"shape\": {\"layers\": 1}}]}"), "g");
        assertEquals(7L, ((Number) g.runs().getFirst().settings().get("steps")).longValue());
        assertEquals(8L, ((Number) g.runs().getFirst().settings().get("act_bits")).longValue());
        assertEquals(1L, g.runs().getFirst().settings().get("layers"), "a shape object's keys become settings");
        assertTrue(bad("[{\"name\": \"a\", \"shape\": {\"widht\": 3}}]").contains("widht"));
        assertTrue(bad("[{\"name\": \"a\", \"data\": \"x\"}]").contains("the grid gives data"));
    }

    private static String bad(String json) {
        return assertThrows(IllegalArgumentException.class, () -> SweepGrid.parse(Json.parse(json), "g")).getMessage();
    }
}
