package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.model.LinearPolicy;
import tern.model.LlamaModel;
import tern.simd.CpuBackend;
import tern.testing.TinyCheckpoints;

/**
 * A checkpoint's config.json is checked against its tensors' headers and the memory it needs against what
 * the machine has, before anything is allocated (issue #14, item 3); its precision is never guessed
 * silently (item 4); its weights are checked finite once, at load, naming the tensor (item 6).
 */
class CheckpointPreflightTest {
    @TempDir Path dir;

    @AfterEach
    void cleanUp() { System.clearProperty(MemoryPlan.AVAILABLE_PROPERTY); }

    // ---- item 3: config against headers, memory against what is there ----------------------------------

    @Test
    void hugeVocabularyIsAClearErrorNotAnOutOfMemoryError() throws IOException {
        Path folder = TinyCheckpoints.modelFolder(dir.resolve("m"), TinyCheckpoints.SHAPE, w -> {}, c -> c.replace("\"vocab_size\": 300", "\"vocab_size\": 1000000000"));
        long t0 = System.nanoTime();
        Exception e = assertThrows(Exception.class, () -> load(folder));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertContains(e, folder.resolve("config.json") + ": vocab_size 1000000000");
        assertContains(e, "model.embed_tokens.weight");
        assertContains(e, "[300, 16]");
        assertTrue(seconds < 5, "took " + seconds + " s");
    }

    @Test
    void largeVocabularyFailsBeforeAllocating() throws IOException {
        Path folder = TinyCheckpoints.modelFolder(dir.resolve("m"), TinyCheckpoints.SHAPE, w -> {}, c -> c.replace("\"vocab_size\": 300", "\"vocab_size\": 4000000"));
        Exception e = assertThrows(Exception.class, () -> load(folder));
        assertContains(e, folder.resolve("config.json") + ": vocab_size 4000000");   // the config is blamed, not a tensor after the fact
    }

    @Test
    void otherShapeKeysAreCheckedToo() throws IOException {
        Path layers = TinyCheckpoints.modelFolder(dir.resolve("layers"), TinyCheckpoints.SHAPE, w -> {}, c -> c.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"));
        assertContains(assertThrows(Exception.class, () -> load(layers)), "num_hidden_layers 3");
        Path ffn = TinyCheckpoints.modelFolder(dir.resolve("ffn"), TinyCheckpoints.SHAPE, w -> {}, c -> c.replace("\"intermediate_size\": 32", "\"intermediate_size\": 48"));
        assertContains(assertThrows(Exception.class, () -> load(ffn)), "intermediate_size 48");
        Path hidden = TinyCheckpoints.modelFolder(dir.resolve("hidden"), TinyCheckpoints.SHAPE, w -> {},
                c -> c.replace("\"hidden_size\": 16", "\"hidden_size\": 32").replace("\"head_dim\": 8", "\"head_dim\": 16"));
        assertContains(assertThrows(Exception.class, () -> load(hidden)), "hidden_size 32");
    }

    @Test
    void notEnoughMemoryIsRefusedBeforeAllocating() throws IOException {
        Path folder = TinyCheckpoints.modelFolder(dir.resolve("m"));
        System.setProperty(MemoryPlan.AVAILABLE_PROPERTY, "16384");
        Exception e = assertThrows(Exception.class, () -> load(folder));
        assertContains(e, "not enough memory");
        assertContains(e, "16.0 KiB available");
        System.clearProperty(MemoryPlan.AVAILABLE_PROPERTY);
        load(folder).close();
    }

    // ---- item 4: precision ----------------------------------------------------------------------------------

    @Test
    void ternaryCheckpointWithoutItsPrecisionIsAnError() throws IOException {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"), TinyCheckpoints.SHAPE.ternary(), w -> {},
                c -> c.replace("\"tern_precision\": \"ternary\",", ""));
        Exception e = assertThrows(Exception.class, () -> load(ckpt));
        assertContains(e, ckpt.resolve("config.json") + ": ");
        assertContains(e, "tern_precision");
    }

    @Test
    void ternCheckpointStrippedOfEveryTernKeyIsAnError() throws IOException {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"), TinyCheckpoints.SHAPE.ternary(), w -> {},
                c -> c.lines().filter(l -> !l.contains("\"tern_")).reduce("", (a, b) -> a + b + "\n").replace(",\n}", "\n}"));
        assertContains(assertThrows(Exception.class, () -> load(ckpt)), "tern_precision");
    }

    @Test
    void unknownPrecisionIsAnErrorNamingTheFile() throws IOException {
        Path folder = TinyCheckpoints.modelFolder(dir.resolve("m"), TinyCheckpoints.SHAPE, w -> {}, c -> c.replace("\"tern_precision\": \"float\"", "\"tern_precision\": \"quaternary\""));
        Exception e = assertThrows(Exception.class, () -> load(folder));
        assertContains(e, folder.resolve("config.json") + ": tern_precision 'quaternary'");
    }

    @Test
    void plainHuggingFaceFolderStillLoadsAsFloat() throws IOException {
        Path folder = TinyCheckpoints.modelFolder(dir.resolve("hf"), TinyCheckpoints.SHAPE, w -> {},
                c -> c.lines().filter(l -> !l.contains("\"tern_")).reduce("", (a, b) -> a + b + "\n").replace(",\n}", "\n}"));
        try (LlamaModel m = load(folder)) {
            assertEquals(LinearPolicy.FLOAT, m.precision().weights());
        }
    }

    // ---- item 6: finiteness -----------------------------------------------------------------------------------

    @Test
    void nanWeightIsRefusedNamingTheTensor() throws IOException {
        String name = "model.layers.1.mlp.down_proj.weight";
        Path folder = TinyCheckpoints.modelFolder(dir.resolve("m"), TinyCheckpoints.SHAPE, TinyCheckpoints.poke(name, 37, Float.NaN), c -> c);
        Exception e = assertThrows(Exception.class, () -> load(folder));
        assertContains(e, folder.resolve("model.safetensors") + ": tensor '" + name + "'");
        assertContains(e, "NaN at element 37");
    }

    @Test
    void infiniteWeightIsRefusedNamingTheTensor() throws IOException {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"), TinyCheckpoints.SHAPE, TinyCheckpoints.poke("lm_head.weight", 0, Float.NEGATIVE_INFINITY), c -> c);
        Exception e = assertThrows(Exception.class, () -> load(dir.resolve("run")));
        assertContains(e, ckpt.resolve("model.safetensors") + ": tensor 'lm_head.weight'");
        assertContains(e, "-Infinity at element 0");
    }

    private static LlamaModel load(Path dir) throws IOException {
        return TrainCheckpoint.loadModel(dir, new CpuBackend());
    }

    private static void assertContains(Exception e, String expected) {
        assertTrue(String.valueOf(e.getMessage()).contains(expected), "message '" + e.getMessage() + "' should contain '" + expected + "'");
    }
}
