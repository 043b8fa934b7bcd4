package tern.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tern.checkpoint.Json;
import tern.checkpoint.Safetensors;
import tern.checkpoint.SafetensorsFile;
import tern.runtime.Schedule;
import tern.runtime.Tensor;

/**
 * The golden files of tools/reference/make_golden.py (PyTorch + transformers) read with Tern's safetensors
 * reader and checked for internal consistency, independently of Tern's model: shapes as config.json
 * implies, tokens in the vocabulary, the loss equal to the cross-entropy of the saved logits (recomputed in
 * double, 1e-5 relative: PyTorch's own f32 loss), the step-0 gradient norm equal to the norm of the saved
 * gradients (1e-5 relative), and the recorded learning rates and weight decays equal to Tern's own Spectra
 * schedule. Layout: model.safetensors (initial weights), golden.safetensors (logits, loss, grad.NAME at
 * step 0, stepN.NAME after update N = 1..3), golden.json (tokens, per-step loss, lr, wd, gradient norm).
 */
class GoldenLoaderTest {
    static final List<String> MODELS = List.of("float", "ternary");
    static final int BATCH = 2, SEQ = 8, STEPS = 3;
    /** The schedule the script uses (its constants), as Tern spells it. */
    static final Schedule.Spectra SCHEDULE = new Schedule.Spectra(1e-2, 1e-3, 1, STEPS, 0.1, 5e-3, 0.5, 2.0 / 3.0);

    /** Everything one golden folder holds. */
    record Golden(String model, Map<String, Object> config, Map<String, Object> info,
                  SafetensorsFile weights, SafetensorsFile outputs) implements AutoCloseable {
        int vocab() { return integer(config, "vocab_size"); }
        int hidden() { return integer(config, "hidden_size"); }
        int intermediate() { return integer(config, "intermediate_size"); }
        int layers() { return integer(config, "num_hidden_layers"); }

        int[] inputs() { return flat(info.get("inputs")); }
        int[] targets() { return flat(info.get("targets")); }

        @SuppressWarnings("unchecked")
        List<Map<String, Object>> steps() { return (List<Map<String, Object>>) info.get("steps"); }

        @Override
        public void close() {
            weights.close();
            outputs.close();
        }
    }

    static Path folder(String model) {
        try {
            return Path.of(Objects.requireNonNull(GoldenLoaderTest.class.getResource("/golden/" + model + "/golden.json"),
                    "golden files missing from the test classpath").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Golden load(String model) throws IOException {
        Path dir = folder(model);
        return new Golden(model, Json.parseObject(Files.readString(dir.resolve("config.json"))),
                Json.parseObject(Files.readString(dir.resolve("golden.json"))),
                Safetensors.open(dir.resolve("model.safetensors")), Safetensors.open(dir.resolve("golden.safetensors")));
    }

    /** Hugging Face parameter names and shapes that config.json implies, in the model's order. */
    static Map<String, int[]> expectedShapes(Golden g) {
        int v = g.vocab(), h = g.hidden(), f = g.intermediate();
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new int[]{v, h});
        for (int i = 0; i < g.layers(); i++) {
            String p = "model.layers." + i + ".";
            for (String proj : List.of("q_proj", "k_proj", "v_proj", "o_proj")) m.put(p + "self_attn." + proj + ".weight", new int[]{h, h});
            m.put(p + "mlp.gate_proj.weight", new int[]{f, h});
            m.put(p + "mlp.up_proj.weight", new int[]{f, h});
            m.put(p + "mlp.down_proj.weight", new int[]{h, f});
            m.put(p + "input_layernorm.weight", new int[]{h});
            m.put(p + "post_attention_layernorm.weight", new int[]{h});
        }
        m.put("model.norm.weight", new int[]{h});
        m.put("lm_head.weight", new int[]{v, h});
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"float", "ternary"})
    void shapesMatchTheConfig(String model) throws IOException {
        try (Golden g = load(model)) {
            assertEquals(List.of(96, 64, 128, 2, 4, 4), List.of(g.vocab(), g.hidden(), g.intermediate(), g.layers(),
                    integer(g.config, "num_attention_heads"), integer(g.config, "num_key_value_heads")), "the script's conventions");
            Map<String, int[]> shapes = expectedShapes(g);
            assertEquals(sorted(shapes.keySet()), sorted(g.weights.names()), "parameter names");
            List<String> outputs = new ArrayList<>(List.of("logits", "loss"));
            for (String name : shapes.keySet()) {
                assertArrayEquals(shapes.get(name), g.weights.entry(name).shape(), name);
                assertArrayEquals(shapes.get(name), g.outputs.entry("grad." + name).shape(), "grad." + name);
                outputs.add("grad." + name);
                for (int s = 1; s <= STEPS; s++) {
                    assertArrayEquals(shapes.get(name), g.outputs.entry("step" + s + "." + name).shape(), "step" + s + "." + name);
                    outputs.add("step" + s + "." + name);
                }
            }
            List<String> actual = sorted(g.outputs.names());
            assertTrue(actual.equals(sorted(outputs)), "golden outputs: missing " + minus(outputs, actual) + ", unexpected " + minus(actual, outputs));
            assertArrayEquals(new int[]{BATCH, SEQ, g.vocab()}, g.outputs.entry("logits").shape());
            assertArrayEquals(new int[]{1}, g.outputs.entry("loss").shape());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"float", "ternary"})
    void tokensAreShiftedAndInTheVocabulary(String model) throws IOException {
        try (Golden g = load(model)) {
            int[] all = flat(g.info.get("tokens")), in = g.inputs(), tg = g.targets();
            assertEquals(BATCH * (SEQ + 1), all.length);
            for (int b = 0; b < BATCH; b++)
                for (int t = 0; t < SEQ; t++) {
                    assertEquals(all[b * (SEQ + 1) + t], in[b * SEQ + t]);
                    assertEquals(all[b * (SEQ + 1) + t + 1], tg[b * SEQ + t]);
                }
            for (int id : all) assertTrue(id >= 0 && id < g.vocab(), "token " + id);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"float", "ternary"})
    void lossIsTheCrossEntropyOfTheLogits(String model) throws IOException {
        try (Golden g = load(model); Tensor logits = g.outputs.tensor("logits"); Tensor loss = g.outputs.tensor("loss")) {
            double expected = crossEntropy(logits.toFloatArray(), g.targets(), g.vocab());
            assertEquals(expected, loss.get(0), 1e-5 * expected, "saved loss vs cross-entropy of the saved logits");
            assertEquals(loss.get(0), ((Number) g.info.get("loss")).doubleValue(), 1e-6 * expected, "golden.json's loss");
            assertEquals(loss.get(0), ((Number) g.steps().get(0).get("loss")).doubleValue(), 1e-6 * expected, "step 0's loss");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"float", "ternary"})
    void stepZeroGradientNormIsTheNormOfTheSavedGradients(String model) throws IOException {
        try (Golden g = load(model)) {
            double sum = 0;
            for (String name : expectedShapes(g).keySet())
                try (Tensor grad = g.outputs.tensor("grad." + name)) {
                    for (float x : grad.toFloatArray()) sum += (double) x * x;
                }
            double recorded = ((Number) g.steps().get(0).get("grad_norm")).doubleValue();
            assertEquals(Math.sqrt(sum), recorded, 1e-5 * recorded);
            assertTrue(recorded > 1, "clipping to 1 is exercised (norm " + recorded + ")");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"float", "ternary"})
    void recordedScheduleIsTernsSpectraSchedule(String model) throws IOException {
        try (Golden g = load(model)) {
            assertEquals(STEPS, g.steps().size());
            for (int s = 0; s < STEPS; s++) {
                Map<String, Object> step = g.steps().get(s);
                assertEquals(SCHEDULE.lr(s), ((Number) step.get("lr")).doubleValue(), 1e-15, "lr at step " + s);
                assertEquals(SCHEDULE.weightDecay(s), ((Number) step.get("weight_decay")).doubleValue(), 1e-15, "wd at step " + s);
            }
        }
    }

    /** Both twins start from the same weights, so their differences are the ternary linears alone. */
    @org.junit.jupiter.api.Test
    void twinsShareTheirInitialWeights() throws IOException {
        try (Golden f = load("float"); Golden t = load("ternary")) {
            for (String name : f.weights.names())
                try (Tensor a = f.weights.tensor(name); Tensor b = t.weights.tensor(name)) {
                    assertArrayEquals(a.toFloatArray(), b.toFloatArray(), name);
                }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** Mean over positions of logsumexp(logits) − logit[target], in double. */
    static double crossEntropy(float[] logits, int[] targets, int vocab) {
        double total = 0;
        for (int i = 0; i < targets.length; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) max = Math.max(max, logits[i * vocab + j]);
            double sum = 0;
            for (int j = 0; j < vocab; j++) sum += Math.exp(logits[i * vocab + j] - max);
            total += max + Math.log(sum) - logits[i * vocab + targets[i]];
        }
        return total / targets.length;
    }

    static int integer(Map<String, Object> m, String key) {
        return ((Number) Objects.requireNonNull(m.get(key), key)).intValue();
    }

    static int[] flat(Object nested) {
        List<Integer> out = new ArrayList<>();
        for (Object row : (List<?>) nested)
            for (Object x : (List<?>) row) out.add(((Number) x).intValue());
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static List<String> minus(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.removeAll(b);
        return out;
    }

    private static List<String> sorted(java.util.Collection<String> names) {
        List<String> l = new ArrayList<>(names);
        l.sort(null);
        return l;
    }
}
