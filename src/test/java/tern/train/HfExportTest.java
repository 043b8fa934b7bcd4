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
}
