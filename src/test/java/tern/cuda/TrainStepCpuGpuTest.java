package tern.cuda;

import tern.model.GoldenModelTest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;
import tern.train.Batch;
import tern.train.BatchSampler;
import tern.train.TokenShard;
import tern.train.TrainConfig;
import tern.train.TrainRun;
import tern.train.Trainer;

/**
 * One whole training step of the tiny preset (the trainer's own code: forward, backward, gradient norm,
 * clipping, AdamW with weight decay) on the CPU and on the GPU from the same weights and batch, compared
 * tensor by tensor. Tolerances (f32 on both sides, different summation orders):
 * <ul>
 * <li>validation loss before and after the step: 1e-5 relative;
 * <li>every parameter gradient: ‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-4; gradient norm 1e-5 relative;
 * <li>AdamW moments: m 1e-4, v 2e-4 relative (v is the squared gradient);
 * <li>weights after the step: every element within 1e-4 × the tensor's largest magnitude, with at most 0.1%
 * off by up to 4 learning rates (the first AdamW update of an element moves it by lr·g/(|g| + eps); where
 * |g| is near eps, last-bit differences of g change that update by a fraction of lr).
 * </ul>
 * The trainer keeps each parameter's gradient after its update, so the gradients compared are the step's.
 */
class TrainStepCpuGpuTest {
    static final int BATCH = 4, SEQ = 64;

    @TempDir Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"float", "ternary"})
    void oneTrainerStepMatchesTheCpu(String precision) throws IOException {
        CudaBackend cuda = Gpu.backend();
        Backend cpu = new CpuBackend();
        Map<String, Object> settings = new HashMap<>();
        settings.put("preset", "tiny");
        settings.put("precision", precision);
        settings.put("steps", 1L);
        settings.put("warmup", 0);
        settings.put("accum", 1);
        settings.put("batch", BATCH);
        settings.put("seq", SEQ);
        TrainConfig config = TrainConfig.resolve(settings);
        int vocab = tern.model.LlamaConfig.preset("tiny").vocabSize();
        Path shard = Gpu.randomShard(dir, vocab, 20_000, 7);
        try (TokenShard s = TokenShard.open(shard);
             LlamaModel onCpu = new LlamaModel(cpu, TrainRun.modelConfig(config, vocab));
             LlamaModel onGpu = new LlamaModel(cuda, TrainRun.modelConfig(config, vocab))) {
            onCpu.initialize(3);
            for (int i = 0; i < onCpu.parameters().size(); i++)
                cuda.copy(onCpu.parameters().get(i).value, onGpu.parameters().get(i).value);
            List<Batch> validation = new ArrayList<>();
            Iterator<Batch> it = BatchSampler.validation(List.of(s), BATCH, SEQ);
            while (it.hasNext() && validation.size() < 2) validation.add(it.next());
            Trainer cpuTrainer = new Trainer(config, onCpu, new BatchSampler(List.of(s), BATCH, SEQ, 5), validation);
            Trainer gpuTrainer = new Trainer(config, onGpu, new BatchSampler(List.of(s), BATCH, SEQ, 5), validation);

            double before = cpuTrainer.validationLoss();
            assertEquals(before, gpuTrainer.validationLoss(), 1e-5 * before, precision + " validation loss before the step");
            List<float[]> weightsBefore = new ArrayList<>();
            for (Parameter p : onCpu.parameters()) weightsBefore.add(cpu.download(p.value));

            cpuTrainer.run(1, null, null, null, null);
            gpuTrainer.run(1, null, null, null, null);

            double lr = config.lr();
            assertTrue(lr > 0, "the step moves the weights (lr " + lr + ")");
            double cpuNorm = cpuTrainer.optimizer().gradNorm(), gpuNorm = gpuTrainer.optimizer().gradNorm();
            assertEquals(cpuNorm, gpuNorm, 1e-5 * cpuNorm, precision + " gradient norm");
            int moved = 0;
            for (int i = 0; i < onCpu.parameters().size(); i++) {
                Parameter c = onCpu.parameters().get(i), g = onGpu.parameters().get(i);
                assertEquals(c.name, g.name);
                Gpu.assertClose(cuda.download(g.grad), Gpu.toDouble(cpu.download(c.grad)), 1e-4, precision + " grad." + c.name);
                Gpu.assertClose(cuda.download(gpuTrainer.optimizer().fullMoments().first(g)),
                        Gpu.toDouble(cpu.download(cpuTrainer.optimizer().fullMoments().first(c))), 1e-4, precision + " m." + c.name);
                Gpu.assertClose(cuda.download(gpuTrainer.optimizer().fullMoments().second(g)),
                        Gpu.toDouble(cpu.download(cpuTrainer.optimizer().fullMoments().second(c))), 2e-4, precision + " v." + c.name);
                float[] after = cpu.download(c.value);
                GoldenModelTest.assertWeightsClose(after, cuda.download(g.value), lr, precision + " weights." + c.name);
                float[] old = weightsBefore.get(i);
                for (int k = 0; k < old.length; k++) if (old[k] != after[k]) { moved++; break; }
            }
            assertEquals(onCpu.parameters().size(), moved, "every parameter tensor changed in the step");
            double after = cpuTrainer.validationLoss();
            assertTrue(after != before, "the step changed the validation loss");
            assertEquals(after, gpuTrainer.validationLoss(), 1e-5 * after, precision + " validation loss after the step");
        }
    }
}
