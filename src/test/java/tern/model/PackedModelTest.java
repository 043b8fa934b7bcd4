package tern.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.CheckpointException;
import tern.checkpoint.Safetensors;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;
import tern.train.TrainCheckpoint;

/**
 * A random-weight TriLM (tiny preset, 2 ternary shards per matrix so both shard axes are exercised) saved
 * as a checkpoint with the checkpoint code, loaded back, packed, and served from the packed file: the
 * packed model's logits equal the checkpoint model's (f32 float tensors: only summation order differs,
 * tolerance 1e-4 of the largest logit), its greedy tokens are the same, and the embedding API streams the
 * same text. Damaged files are refused with the file and the problem named.
 */
class PackedModelTest {
    private static LlamaConfig CONFIG;
    private static final int[] PROMPT = {5, 17, 300, 42, 7, 99};   // ids below the tokenizer's 400

    @TempDir static Path dir;
    static Path ckpt, packed, packedHalf;
    static Tokenizer tokenizer;

    @BeforeAll
    static void saveAndPack() throws Exception {
        ckpt = dir.resolve("step-000001");
        Files.createDirectories(ckpt);
        tokenizer = TokenizerTestSupport.trained(400);
        LlamaConfig tiny = LlamaConfig.preset("tiny");
        // The tiny shape with the tokenizer's vocabulary, so every generated id decodes.
        CONFIG = new LlamaConfig(tokenizer.vocabSize(), tiny.hidden(), tiny.intermediate(), tiny.layers(), tiny.heads(),
                tiny.contextLength(), tiny.rmsEps(), tiny.ropeTheta(), 2, Precision.of(new LinearPolicy.Ternary(2)));
        TokenizerFiles.save(tokenizer, ckpt.resolve(TrainCheckpoint.TOKENIZER));
        try (LlamaModel m = new LlamaModel(new CpuBackend(), CONFIG)) {
            m.initialize(11);
            // Larger embedding/head weights than the 0.02 init, so logits are far apart and greedy is decisive.
            for (Parameter p : List.of(m.parameter("model.embed_tokens.weight"), m.parameter("lm_head.weight")))
                m.backend().scale(p.value, 50f);
            Map<String, Tensor> weights = new LinkedHashMap<>();
            for (Parameter p : m.parameters()) weights.put(p.name, p.value);
            Safetensors.write(ckpt.resolve(TrainCheckpoint.MODEL), weights, Map.of("format", "pt"));
            Files.writeString(ckpt.resolve(TrainCheckpoint.CONFIG), HfConfig.write(m.config()));
        }
        String tokJson = Files.readString(ckpt.resolve(TrainCheckpoint.TOKENIZER));
        try (LlamaModel m = TrainCheckpoint.loadModel(ckpt, new CpuBackend())) {
            packed = dir.resolve("model.tern");
            PackedModelWriter.write(m, tokJson, PackedFloatMatvec.Format.F32, packed);
            packedHalf = dir.resolve("model-f16.tern");
            PackedModelWriter.write(m, tokJson, PackedFloatMatvec.Format.F16, packedHalf);
        }
    }

    @Test
    void packedLogitsAndGreedyTokensMatchTheCheckpoint() throws Exception {
        float[] expected;
        int[] expectedTokens;
        try (LlamaModel m = TrainCheckpoint.loadModel(ckpt, new CpuBackend())) {
            try (Tape tape = new Tape(m.backend(), false)) {
                float[] all = m.backend().download(m.logits(tape, PROMPT, 1, PROMPT.length).value);
                expected = java.util.Arrays.copyOfRange(all, all.length - CONFIG.vocabSize(), all.length);
            }
            try (Generator g = new Generator(m)) {
                expectedTokens = g.generate(PROMPT, 40, SamplingOptions.greedy(), null);
            }
        }
        try (InferenceModel im = InferenceModel.load(packed)) {
            float[] got;
            // Prefill of the whole prompt through the packed path: compare every logit.
            got = prefill(im, PROMPT);
            float max = 0;
            for (float v : expected) max = Math.max(max, Math.abs(v));
            for (int i = 0; i < expected.length; i++)
                assertEquals(expected[i], got[i], 1e-4 * max, "logit " + i);
            List<Integer> streamed = new java.util.ArrayList<>();
            int[] tokens = im.generate(PROMPT, 40, SamplingOptions.greedy(), streamed::add);
            assertArrayEquals(expectedTokens, tokens, "greedy tokens from the packed file");
            assertEquals(40, streamed.size());
            // The int8-activation path is a different (BitNet-style) model: it runs and stays close.
            im.setActivations(PackedMatmul.Activations.INT8);
            float[] q = prefill(im, PROMPT);
            double diff = 0;
            for (int i = 0; i < q.length; i++) diff = Math.max(diff, Math.abs(q[i] - expected[i]));
            assertTrue(diff < 0.1 * max, "int8 activations moved a logit by " + diff + " of " + max);
        }
        try (InferenceModel im = InferenceModel.load(packedHalf)) {
            assertTrue(Files.size(packedHalf) < Files.size(packed), "f16 embeddings make the file smaller");
            assertEquals(40, im.generate(PROMPT, 40, SamplingOptions.greedy(), null).length);
        }
    }

    /**
     * What {@link InferenceModel#generate}'s first-call policy relies on: with int8 activations the packed
     * products are exact integer sums, so a prompt run one token at a time ends in the batched prefill's
     * logits bit for bit (f32 and f16 heads; 21 tokens, so the blocked prefill attention runs). Float
     * activations group rows differently in the tile kernels and differ in the last bits: not used there.
     */
    @Test
    void anInt8PromptRunOneTokenAtATimeGivesTheBatchedPrefillsLogitsBitForBit() throws Exception {
        int[] prompt = new int[21];                                  // > 8 queries: the blocked prefill attention runs
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 37 + 5) % 400;
        for (Path file : List.of(packed, packedHalf))
            try (InferenceModel im = InferenceModel.load(file, new CpuBackend(), PackedMatmul.Activations.INT8); PreparedWeights w = PreparedWeights.of(im.model());
                 KvCache batched = new KvCache(im.backend(), im.config(), prompt.length);
                 KvCache single = new KvCache(im.backend(), im.config(), prompt.length)) {
                float[] all, last = null;
                try (Tape tape = new Tape(im.backend(), false)) {
                    all = im.backend().download(im.model().decode(tape, prompt, batched, w).value);
                }
                for (int id : prompt)
                    try (Tape tape = new Tape(im.backend(), false)) {
                        last = im.backend().download(im.model().decode(tape, new int[] {id}, single, w).value);
                    }
                float[] want = java.util.Arrays.copyOfRange(all, all.length - im.config().vocabSize(), all.length);
                assertArrayEquals(want, last, file.getFileName().toString());
                // generate's first call runs a short prompt one token at a time, later calls batch it.
                int[] first = im.generate(prompt, 12, SamplingOptions.greedy(), null);
                assertArrayEquals(first, im.generate(prompt, 12, SamplingOptions.greedy(), null), file.getFileName() + ": greedy tokens");
            }
    }

    /** The last position's logits of the prompt through the served model's one forward (the packed products). */
    private static float[] prefill(InferenceModel im, int[] prompt) {
        try (Tape tape = new Tape(im.backend(), false)) {
            float[] all = im.backend().download(im.model().logits(tape, prompt, 1, prompt.length).value);
            return java.util.Arrays.copyOfRange(all, all.length - im.config().vocabSize(), all.length);
        }
    }

    @Test
    void embeddingApiStreamsTheSameTextAsTheCheckpoint() throws Exception {
        String prompt = "ka ro mi";
        StringBuilder streamed = new StringBuilder();
        TernModel.Result r;
        try (TernModel m = TernModel.load(packed)) {
            r = m.generate(prompt, SamplingOptions.greedy(), 20, streamed::append);
        }
        assertEquals(r.text(), streamed.toString());
        assertTrue(r.newTokens() > 0 && r.tokensPerSecond() > 0);
        try (LlamaModel m = TrainCheckpoint.loadModel(ckpt, new CpuBackend());
             java.io.PrintStream sink = new java.io.PrintStream(java.io.OutputStream.nullOutputStream())) {
            assertEquals(tern.train.StreamingText.generate(m, tokenizer, prompt, 20, SamplingOptions.greedy(), sink).text(), r.text());
        }
    }

    @Test
    void damagedFilesAreRefusedNamingTheFile() throws Exception {
        byte[] good = Files.readAllBytes(packed);
        Path truncated = dir.resolve("truncated.tern");
        Files.write(truncated, java.util.Arrays.copyOf(good, good.length - 1000));
        CheckpointException e = assertThrows(CheckpointException.class, () -> InferenceModel.load(truncated));
        assertTrue(e.getMessage().startsWith(truncated.toString()) && e.getMessage().contains("truncated"), e.getMessage());

        Path flipped = dir.resolve("flipped.tern");
        byte[] bad = good.clone();
        bad[bad.length - 5000] ^= 0x10;                 // inside the data sections
        Files.write(flipped, bad);
        e = assertThrows(CheckpointException.class, () -> InferenceModel.load(flipped));
        assertTrue(e.getMessage().contains("checksum mismatch") && e.getMessage().contains("tensor '"), e.getMessage());

        Path header = dir.resolve("header.tern");
        bad = good.clone();
        bad[100] ^= 0x01;                               // inside the JSON header
        Files.write(header, bad);
        e = assertThrows(CheckpointException.class, () -> InferenceModel.load(header));
        assertTrue(e.getMessage().contains("header checksum mismatch"), e.getMessage());

        e = assertThrows(CheckpointException.class, () -> InferenceModel.load(ckpt.resolve(TrainCheckpoint.MODEL)));
        assertTrue(e.getMessage().contains("TERNPACK"), e.getMessage());
    }

    /** A self-consistent file whose tensors do not fit its config, or lack one, is refused naming the tensor. */
    @Test
    void tensorsThatDoNotFitTheConfigAreRefused() throws Exception {
        Path wrongShape = dir.resolve("wrong-shape.tern"), missing = dir.resolve("missing.tern");
        try (tern.checkpoint.PackedFile f = tern.checkpoint.PackedFile.open(packed)) {
            Map<String, Object> config = new LinkedHashMap<>(f.config());
            config.put("intermediate_size", 128L);   // the MLP matrices were packed at 192
            rewrite(f, config, null, wrongShape);
            rewrite(f, f.config(), "model.layers.1.mlp.up_proj.weight", missing);
        }
        CheckpointException e = assertThrows(CheckpointException.class, () -> InferenceModel.load(wrongShape));
        assertTrue(e.getMessage().startsWith(wrongShape.toString()) && e.getMessage().contains("mlp.gate_proj.weight' has shape [192, 64]"), e.getMessage());
        e = assertThrows(CheckpointException.class, () -> InferenceModel.load(missing));
        assertTrue(e.getMessage().contains("has no tensor 'model.layers.1.mlp.up_proj.weight'"), e.getMessage());
    }

    private static void rewrite(tern.checkpoint.PackedFile f, Map<String, Object> config, String drop, Path out) {
        tern.checkpoint.PackedFileWriter w = new tern.checkpoint.PackedFileWriter();
        for (tern.checkpoint.PackedFile.Entry e : f.entries().values())
            if (!e.name().equals(drop)) w.add(e.name(), e.dtype(), e.shape(), e.attributes(), f.bytes(e.name()));
        w.write(out, config, f.metadata());
    }
}
