package tern.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.CheckpointException;
import tern.checkpoint.GgufFile;
import tern.checkpoint.GgufType;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.train.GgufExport;
import tern.train.GgufImport;

/**
 * Tern → GGUF → Tern for a random-weight TriLM whose matrices are 256 and 512 wide, with two ternary shards
 * per matrix (so o_proj's 128-column shards cannot share a 256-weight block scale and fall back to f16, as
 * the export says), exported as TQ2_0 and as TQ1_0: the file read back gives exactly Tern's trits and
 * scales for every block linear, the embedding and head at f16, the norms exact, the same tokenizer, and
 * the same greedy tokens (dense float model from the GGUF vs the TriLM, and packed from the GGUF vs packed
 * from the TriLM). Truncated and altered files are refused naming the file and the problem.
 */
class GgufRoundTripTest {
    private static final int[] PROMPT = {5, 17, 300, 42, 7, 99};
    @TempDir static Path dir;
    static Tokenizer tokenizer;
    static LlamaModel original;
    static Path tq2, tq1;
    static List<String> notes;

    @BeforeAll
    static void export() {
        tokenizer = TokenizerTestSupport.trained(400);
        // vocabulary padded past the tokenizer's 400 ids, as Spectra pads GPT-NeoX's to 50,304
        LlamaConfig c = new LlamaConfig(416, 256, 512, 2, 4, 64, 1e-5f, 10000f, 2, Precision.of(new LinearPolicy.Ternary(2)));
        original = new LlamaModel(new CpuBackend(), c);
        original.initialize(3);
        for (Parameter p : List.of(original.parameter("model.embed_tokens.weight"), original.parameter("lm_head.weight")))
            original.backend().scale(p.value, 50f);       // logits far apart: greedy is decisive
        tq2 = dir.resolve("m-tq2.gguf");
        tq1 = dir.resolve("m-tq1.gguf");
        notes = GgufExport.write(original, tokenizer, GgufType.TQ2_0, GgufType.F16, "test", tq2);
        GgufExport.write(original, tokenizer, GgufType.TQ1_0, GgufType.Q8_0, "test", tq1);
    }

    @Test
    void matricesThatCannotTakeBlockScalesAreWrittenF16AndSaidSo() {
        assertEquals(2, notes.size(), notes.toString());
        for (String n : notes) assertTrue(n.contains("attn_output") && n.contains("f16"), n);
        try (GgufFile g = GgufFile.open(tq2)) {
            assertEquals(GgufType.TQ2_0, g.tensors().get("blk.0.attn_q.weight").type());
            assertEquals(GgufType.TQ2_0, g.tensors().get("blk.1.ffn_down.weight").type());
            assertEquals(GgufType.F16, g.tensors().get("blk.0.attn_output.weight").type());
            assertEquals(GgufType.F16, g.tensors().get("token_embd.weight").type());
            assertEquals(GgufType.F32, g.tensors().get("output_norm.weight").type());
            assertEquals("llama", g.required("general.architecture", String.class));
            assertEquals(64L, g.required("llama.rope.dimension_count", Long.class));
            assertEquals((long) tokenizer.endOfText(), g.required("tokenizer.ggml.eos_token_id", Long.class));
            assertEquals(416, g.required("tokenizer.ggml.tokens", List.class).size());
        }
    }

    @Test
    void ternaryWeightsComeBackIdentical() {
        for (Path f : List.of(tq2, tq1)) {
            GgufImport.Loaded l = GgufImport.load(f, new CpuBackend());
            try (LlamaModel back = l.model()) {
                TernaryCodes.ModelCodes codes = TernaryCodes.recognize(back);
                assertTrue(codes.ternary(), codes.refusal());
                assertEquals(2, codes.shards());
                for (Linear lin : original.blockLinears()) {
                    TernaryCodes want = TernaryCodes.quantize(lin.weight().value, 2, lin.shardAxis());
                    TernaryCodes got = codes.byWeight().get(back.parameter(lin.weight().name));
                    assertArrayEquals(want.trits(), got.trits(), lin.weight().name);
                    assertArrayEquals(want.gamma(), got.gamma(), lin.weight().name);
                }
                float[] norm = original.parameter("model.layers.1.input_layernorm.weight").value.toFloatArray();
                assertArrayEquals(norm, back.parameter("model.layers.1.input_layernorm.weight").value.toFloatArray());
                float[] emb = original.parameter("model.embed_tokens.weight").value.toFloatArray();
                float[] embBack = back.parameter("model.embed_tokens.weight").value.toFloatArray();
                for (int b = 0; b < emb.length / 32; b++) {
                    float amax = 0;
                    for (int i = 32 * b; i < 32 * b + 32; i++) amax = Math.max(amax, Math.abs(emb[i]));
                    for (int i = 32 * b; i < 32 * b + 32; i++) {
                        float f16 = Float.float16ToFloat(Float.floatToFloat16(emb[i]));
                        if (f == tq2) assertEquals(f16, embBack[i], 0f, "embedding element " + i);
                        // Q8_0: half a step of amax/127, plus the fp16 rounding of the block scale (2^-11 relative)
                        else assertEquals(emb[i], embBack[i], amax / 127 * 0.5f + amax * 0x1p-11f, "q8_0 embedding element " + i);
                    }
                }
                assertEquals(tokenizer.vocabSize(), l.tokenizer().vocabSize());
                String text = "kamiro tenul shapo, lindra ve qui!";
                assertArrayEquals(tokenizer.encode(text), l.tokenizer().encode(text));
                assertEquals(tokenizer.merges().size(), l.tokenizer().merges().size());
            }
        }
    }

    @Test
    void greedyTokensAreTheSame() throws Exception {
        int[] want;
        try (Generator g = new Generator(original)) {
            want = g.generate(PROMPT, 30, SamplingOptions.greedy(), null);
        }
        for (Path f : List.of(tq2, tq1)) {
            GgufImport.Loaded l = GgufImport.load(f, new CpuBackend());
            try (LlamaModel back = l.model(); Generator g = new Generator(back)) {
                assertArrayEquals(want, g.generate(PROMPT, 30, SamplingOptions.greedy(), null), f + " as a float model");
                Path packedGguf = dir.resolve(f.getFileName() + ".tern"), packedTern = dir.resolve("orig.tern");
                PackedModelWriter.write(back, TernaryCodes.recognize(back), TokenizerFiles.toJson(l.tokenizer()), PackedFloatMatvec.Format.F32, packedGguf);
                PackedModelWriter.write(original, TokenizerFiles.toJson(tokenizer), PackedFloatMatvec.Format.F32, packedTern);
                try (InferenceModel a = InferenceModel.load(packedGguf); InferenceModel b = InferenceModel.load(packedTern)) {
                    int[] fromTern = b.generate(PROMPT, 30, SamplingOptions.greedy(), t -> {});
                    assertArrayEquals(fromTern, a.generate(PROMPT, 30, SamplingOptions.greedy(), t -> {}), f + " packed");
                    assertArrayEquals(want, fromTern, "packed vs checkpoint model");
                }
            }
        }
    }

    @Test
    void everyTruncationIsRefusedNamingTheFile() throws Exception {
        byte[] bytes = Files.readAllBytes(tq1);
        Path cut = dir.resolve("cut.gguf");
        java.util.Random r = new java.util.Random(1);
        for (int k = 0; k < 60; k++) {
            int len = k < 20 ? k * 7 : r.nextInt(bytes.length);
            Files.write(cut, java.util.Arrays.copyOf(bytes, len));
            CheckpointException e = assertThrows(CheckpointException.class, () -> GgufImport.load(cut, new CpuBackend()).model().close(), "length " + len);
            assertTrue(e.getMessage().startsWith(cut.toString()), e.getMessage());
        }
    }

    @Test
    void alteredFilesAreRefusedWithTheProblemNamed() throws Exception {
        byte[] good = Files.readAllBytes(tq2);
        long typeAt, dimAt, offsetAt;
        try (GgufFile g = GgufFile.open(tq2)) {
            assertNotNull(g.tensors().get("blk.0.attn_q.weight"));
        }
        // The tensor-info fields of blk.0.attn_q.weight: found after its name in the header.
        byte[] tensorName = "blk.0.attn_q.weight".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] withLength = ByteBuffer.allocate(8 + tensorName.length).order(ByteOrder.LITTLE_ENDIAN).putLong(tensorName.length).put(tensorName).array();
        int name = indexOf(good, withLength, 0) + 8;                 // the tensor info, not the tern.ternary_scales key
        dimAt = name + tensorName.length + 4;                         // n_dims (u32), then dims (u64 each)
        typeAt = dimAt + 16;
        offsetAt = typeAt + 4;
        assertRefused(good, b -> b.putInt((int) typeAt, 99), "ggml type 99");
        assertRefused(good, b -> b.putInt((int) typeAt, GgufType.F16.id), "overlap");      // a bigger type runs into the next tensor
        assertRefused(good, b -> b.putLong((int) dimAt, 255), "not whole tq2_0 blocks");
        assertRefused(good, b -> b.putLong((int) dimAt + 8, 128), "shape");
        assertRefused(good, b -> b.putLong((int) offsetAt, b.getLong((int) offsetAt) + 2), "alignment");
        assertRefused(good, b -> b.putInt(0, 0x12345678), "not a GGUF file");
        assertRefused(good, b -> b.putInt(4, 7), "version 7");
        // a Tern scale that the blocks do not hold
        int scales = indexOf(good, "tern.ternary_scales.blk.0.attn_q.weight".getBytes(java.nio.charset.StandardCharsets.UTF_8), 0);
        int firstScale = scales + "tern.ternary_scales.blk.0.attn_q.weight".length() + 4 + 4 + 8;
        assertRefused(good, b -> b.putFloat(firstScale, b.getFloat(firstScale) * 1.5f), "does not round");
    }

    private static void assertRefused(byte[] good, java.util.function.Consumer<ByteBuffer> edit, String problem) throws Exception {
        byte[] bad = good.clone();
        edit.accept(ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN));
        Path f = dir.resolve("bad.gguf");
        Files.write(f, bad);
        CheckpointException e = assertThrows(CheckpointException.class, () -> GgufImport.load(f, new CpuBackend()).model().close());
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains(problem), e.getMessage());
    }

    private static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = from; i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
