package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.model.HfConfig;
import tern.model.LinearPolicy;
import tern.model.LlamaModel;
import tern.model.TokenizerFiles;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;

/**
 * The demo end to end in a few steps on a small corpus: the checkpoint folder holds everything a
 * checkpoint promises, loads back into the same weights, and the demo reports sizes and a sample.
 */
class DemoSmokeTest {

    @Test
    void aShortDemoSavesALoadableCheckpointAndSamples(@TempDir Path tmp) throws IOException {
        Demo.Options o = Demo.Options.defaults().withSteps(4).withOut(tmp.resolve("demo")).withCorpusBytes(200_000)
                .withTrainSettings(Map.of("batch", 2, "seq", 32));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CpuBackend backend = new CpuBackend();
        Demo.Outcome outcome = Demo.run(o, backend, new PrintStream(bytes, true, StandardCharsets.UTF_8), new TrainerStop());
        String printed = bytes.toString(StandardCharsets.UTF_8);

        Path ckpt = outcome.checkpoint();
        assertEquals(tmp.resolve("demo/run/checkpoints/step-000004"), ckpt);
        for (String f : new String[]{TrainCheckpoint.MODEL, TrainCheckpoint.CONFIG, TrainCheckpoint.TOKENIZER,
                TrainCheckpoint.OPTIMIZER, TrainCheckpoint.STATE})
            assertTrue(Files.isRegularFile(ckpt.resolve(f)), f + " is in the checkpoint");
        assertEquals("step-000004", Files.readString(tmp.resolve("demo/run/checkpoints/latest")).strip());

        // the config reads back as a ternary model of the tokenizer's vocabulary
        var config = HfConfig.read(Files.readString(ckpt.resolve(TrainCheckpoint.CONFIG)), "config.json");
        assertTrue(config.precision().weights() instanceof LinearPolicy.Ternary);
        assertEquals(TokenizerFiles.load(ckpt.resolve(TrainCheckpoint.TOKENIZER)).vocabSize(), config.vocabSize());
        // and the weights load by name and shape (the loader checks both) from the run folder's latest checkpoint
        try (LlamaModel loaded = TrainCheckpoint.loadModel(tmp.resolve("demo/run"), backend)) {
            assertEquals(config, loaded.config());
            Parameter head = loaded.parameter("lm_head.weight");
            float[] w = backend.download(head.value);
            boolean nonzero = false;
            for (float v : w) nonzero |= v != 0;
            assertTrue(nonzero, "the LM head was loaded");
        }
        assertEquals(4, TrainCheckpoint.readState(ckpt).step());
        assertTrue(outcome.floatBits() > 2 * outcome.modelBits(), "a ternary model is well under half the float size");
        assertTrue(printed.contains("model size:"), printed);
        assertNotNull(outcome.sample());
        assertTrue(printed.contains(o.prompt()), "the sample starts with the prompt: " + printed);

        // a second demo reuses the data
        bytes.reset();
        Demo.run(o.withSteps(1), backend, new PrintStream(bytes, true, StandardCharsets.UTF_8), new TrainerStop());
        assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("reusing the corpus"));
    }
}
