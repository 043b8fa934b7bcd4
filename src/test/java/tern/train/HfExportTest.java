package tern.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Safetensors;
import tern.checkpoint.SafetensorsFile;
import tern.model.HfConfig;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.DType;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** An exported TriLM is a float Llama that computes the ternary model's function. */
class HfExportTest {
    @TempDir Path dir;

    @Test
    void exportedTernaryModelIsTheSameFunctionAsAFloatLlama() throws Exception {
        CpuBackend cpu = new CpuBackend();
        LlamaConfig config = LlamaConfig.preset("tiny").withPolicy(new LinearPolicy.Ternary(2));
        int batch = 1, seq = 12;
        int[] ids = new int[seq];
        for (int i = 0; i < seq; i++) ids[i] = (i * 31 + 7) % config.vocabSize();
        float[] ternaryLogits;
        try (LlamaModel model = new LlamaModel(cpu, config)) {
            model.initialize(5);
            try (Tape tape = new Tape(cpu, false)) {
                ternaryLogits = model.logits(tape, ids, batch, seq).value.toFloatArray();
            }
            HfExport.write(model, dir, DType.F32, null);
        }

        LlamaConfig read = HfConfig.read(Files.readString(dir.resolve("config.json")), "config.json");
        assertEquals(new LinearPolicy.Float(), read.precision().weights(), "the export is a plain float model");
        try (LlamaModel exported = new LlamaModel(cpu, read); SafetensorsFile file = Safetensors.open(dir.resolve("model.safetensors"))) {
            for (Parameter p : exported.parameters()) cpu.copy(file.tensor(p.name), p.value);
            // Each exported block matrix is ±γ_s/0 with one γ per shard (2 shards: at most 2 magnitudes).
            Tensor q = file.tensor("model.layers.0.self_attn.q_proj.weight");
            Set<Float> magnitudes = new HashSet<>();
            for (long i = 0; i < q.size(); i++) if (q.get(i) != 0f) magnitudes.add(Math.abs(q.get(i)));
            assertTrue(magnitudes.size() >= 1 && magnitudes.size() <= 2, "magnitudes " + magnitudes);
            float[] floatLogits;
            try (Tape tape = new Tape(cpu, false)) {
                floatLogits = exported.logits(tape, ids, batch, seq).value.toFloatArray();
            }
            for (int i = 0; i < floatLogits.length; i++)
                assertEquals(ternaryLogits[i], floatLogits[i], 1e-4f * (1 + Math.abs(ternaryLogits[i])), "logit " + i);
        }
    }

    /**
     * An f16 export (Spectra's "Unpacked" form) says torch_dtype float16 and takes bos/eos from the tokenizer;
     * read back it is recognized as ternary (±γ/0 per shard) with Tern's trits and γ rounded to f16.
     */
    @Test
    void anF16ExportNamesItsDtypeAndEndOfTextAndIsRecognizedAsTernary() throws Exception {
        CpuBackend cpu = new CpuBackend();
        tern.model.Tokenizer tokenizer = tern.model.BpeTrainer.train(GrammarCorpus.generate(9, 8_000), 300);
        Path tok = dir.resolve("tok.json");
        tern.model.TokenizerFiles.save(tokenizer, tok);
        LlamaConfig config = LlamaConfig.preset("tiny").withPolicy(new LinearPolicy.Ternary(2));
        Path out = dir.resolve("hf");
        try (LlamaModel model = new LlamaModel(cpu, config)) {
            model.initialize(9);
            HfExport.write(model, out, DType.F16, tok);
            var m = tern.checkpoint.Json.parseObject(Files.readString(out.resolve("config.json")));
            assertEquals("float16", m.get("torch_dtype"));
            assertEquals((long) tokenizer.endOfText(), m.get("eos_token_id"));
            assertEquals((long) tokenizer.vocabSize() - 1, m.get("bos_token_id"), "<|endoftext|> is the last id");
            try (LlamaModel back = TrainCheckpoint.loadModel(out, cpu)) {
                tern.model.TernaryCodes.ModelCodes codes = tern.model.TernaryCodes.recognize(back);
                assertTrue(codes.ternary(), codes.refusal());
                assertEquals(2, codes.shards());
                for (tern.model.Linear l : model.blockLinears()) {
                    tern.model.TernaryCodes want = tern.model.TernaryCodes.quantize(l.weight().value, 2, l.shardAxis());
                    tern.model.TernaryCodes got = codes.byWeight().get(back.parameter(l.weight().name));
                    assertArrayEquals(want.trits(), got.trits(), l.weight().name);
                    for (int s = 0; s < 2; s++)
                        assertEquals(Float.float16ToFloat(Float.floatToFloat16(want.gamma()[s])), got.gamma()[s], 0f, l.weight().name + " γ" + s);
                }
            }
        }
        // a float model is not mistaken for a ternary one
        try (LlamaModel floatModel = new LlamaModel(cpu, LlamaConfig.preset("tiny"))) {
            floatModel.initialize(9);
            tern.model.TernaryCodes.ModelCodes codes = tern.model.TernaryCodes.recognize(floatModel);
            assertFalse(codes.ternary());
            assertTrue(codes.refusal().contains("model.layers.0.self_attn.q_proj.weight"), codes.refusal());
        }
    }
}
