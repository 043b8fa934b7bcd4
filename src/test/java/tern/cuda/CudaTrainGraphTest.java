package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import tern.model.LlamaModel;
import tern.runtime.Parameter;
import tern.runtime.StepReplay;
import tern.runtime.Tape;
import tern.train.BatchSampler;
import tern.train.TokenShard;
import tern.train.TrainConfig;
import tern.train.TrainLog;
import tern.train.TrainRun;
import tern.train.Trainer;

/**
 * The training step replayed as a CUDA graph ({@link CudaStepGraph}) against the eager step: two copies of
 * the tiny model from the same weights, trained on the same batches, one eagerly and one with the step graph,
 * give the same bits — every step's loss and gradient norm, and after the steps every weight and both AdamW
 * moments — for float weights on the backend's default f32 path and on bf16 activations, and ternary weights
 * on bf16 (fake-quantized on the device), with and without gradient accumulation. No tolerance: the graph
 * holds the eager step's own launches; under fp16 products the loss scale is one of its launch arguments (a
 * changed scale is captured again). Ternary weights on the f32 path are packed every step with their
 * scales read on the host: the capture is refused and the steps stay eager (still the same bits). A step
 * whose shape changes runs eagerly and the next one is captured again (same bits as eager throughout).
 */
class CudaTrainGraphTest {
    static final int STEPS = 6;

    @TempDir Path dir;

    @ParameterizedTest
    @CsvSource({"float, 1, default", "float, 2, default", "float, 1, bf16", "float, 2, bf16", "ternary, 1, bf16",
            "ternary, 2, bf16", "ternary, 1, default", "float, 1, fp16"})
    void replayedStepsGiveTheEagerBits(String precision, int accum, String compute) throws IOException {
        CudaBackend shared = Gpu.backend();
        CudaBackend cuda = compute.equals("default") ? shared : CudaBackend.forCompute(compute);
        try {
            TrainConfig config = config(precision, accum);
            int vocab = tern.model.LlamaConfig.preset("tiny").vocabSize();
            Path shard = Gpu.randomShard(dir, vocab, 40_000, 11);
            try (TokenShard s = TokenShard.open(shard);
                 LlamaModel eagerModel = new LlamaModel(cuda, TrainRun.modelConfig(config, vocab));
                 LlamaModel graphModel = new LlamaModel(cuda, TrainRun.modelConfig(config, vocab))) {
                eagerModel.initialize(3);
                graphModel.initialize(3);
                // The graph trainer first: its step graph gives cuBLAS the fixed workspace both then use.
                Trainer graph = new Trainer(config, graphModel, new BatchSampler(List.of(s), config.batch(), config.seq(), 5), List.of());
                assertTrue(graph.useStepGraph(true), "the CUDA backend has a step graph");
                Trainer eager = new Trainer(config, eagerModel, new BatchSampler(List.of(s), config.batch(), config.seq(), 5), List.of());
                for (int i = 0; i < STEPS; i++) {
                    TrainLog.Step e = eager.trainStep(), g = graph.trainStep();
                    String what = precision + " accum " + accum + " " + compute + " step " + (i + 1);
                    assertEquals(Float.floatToRawIntBits(e.loss()), Float.floatToRawIntBits(g.loss()), what + " loss " + e.loss() + " vs " + g.loss());
                    assertEquals(Double.doubleToRawLongBits(e.gradNorm()), Double.doubleToRawLongBits(g.gradNorm()),
                            what + " gradient norm " + e.gradNorm() + " vs " + g.gradNorm());
                }
                CudaStepGraph stepGraph = (CudaStepGraph) graph.stepReplay();
                if (precision.equals("ternary") && compute.equals("default")) {
                    // f32 products pack the ternary weights every step, reading their scales on the host: refused, eager
                    assertEquals(0, stepGraph.captures(), stepGraph.describe());
                    assertTrue(stepGraph.describe().contains("off:") && stepGraph.describe().contains("could not be captured"), stepGraph.describe());
                } else if (compute.equals("fp16")) {
                    // a loss-scale change (an overflow) would change a launch and be captured again: at least one capture
                    assertTrue(stepGraph.captures() >= 1 && stepGraph.replays() >= STEPS - 3, stepGraph.describe());
                } else {
                    assertEquals(1, stepGraph.captures(), stepGraph.describe());
                    assertEquals(STEPS - 1, stepGraph.replays(), "the first step eager, every later one replayed: " + stepGraph.describe());
                }
                assertSameState(cuda, eagerModel, eager, graphModel, graph, precision);
                graph.useStepGraph(false);
            }
        } finally {
            if (cuda != shared) cuda.close();
        }
    }

    private static void assertSameState(CudaBackend cuda, LlamaModel a, Trainer ta, LlamaModel b, Trainer tb, String what) {
        for (int i = 0; i < a.parameters().size(); i++) {
            Parameter p = a.parameters().get(i), q = b.parameters().get(i);
            assertEquals(p.name, q.name);
            assertArrayEquals(cuda.download(p.value), cuda.download(q.value), what + " weights of " + p.name);
            assertArrayEquals(cuda.download(ta.optimizer().fullMoments().first(p)), cuda.download(tb.optimizer().fullMoments().first(q)),
                    what + " first moment of " + p.name);
            assertArrayEquals(cuda.download(ta.optimizer().fullMoments().second(p)), cuda.download(tb.optimizer().fullMoments().second(q)),
                    what + " second moment of " + p.name);
        }
    }

    /**
     * The step body alone (zero, loss, backward, norm; no update, so every run sees the same weights) at
     * shapes A A A B B B A: the first of a shape is eager, the second captured, later ones replayed, a change
     * falls back and is captured again; every replayed loss, norm and gradient equals the eager run's.
     */
    @Test
    void aChangedShapeRunsEagerlyAndIsCapturedAgain() throws IOException {
        CudaBackend cuda = Gpu.backend();
        TrainConfig config = config("float", 1);
        int vocab = tern.model.LlamaConfig.preset("tiny").vocabSize();
        Path shard = Gpu.randomShard(dir, vocab, 40_000, 12);
        try (TokenShard s = TokenShard.open(shard);
             LlamaModel model = new LlamaModel(cuda, TrainRun.modelConfig(config, vocab));
             StepReplay replay = cuda.stepReplay()) {
            model.initialize(4);
            Trainer t = new Trainer(config, model, new BatchSampler(List.of(s), config.batch(), config.seq(), 5), List.of());
            BatchSampler a = new BatchSampler(List.of(s), 2, 32, 7), bSampler = new BatchSampler(List.of(s), 3, 16, 8);
            boolean[] expected = {false, true, true, false, true, true, false};
            char[] shapes = {'A', 'A', 'A', 'B', 'B', 'B', 'A'};
            for (int i = 0; i < shapes.length; i++) {
                tern.train.Batch batch = (shapes[i] == 'A' ? a : bSampler).next();
                Runnable body = () -> {
                    t.optimizer().zeroGrad();
                    DoubleSupplier loss, norm;
                    try (Tape tape = new Tape(cuda)) {
                        loss = model.lossLater(tape, batch.inputs(), batch.targets(), batch.rows(), batch.seqLen(), 1f);
                        tape.backward();
                    }
                    norm = t.optimizer().gradNormLater();
                    suppliers[0] = loss;
                    suppliers[1] = norm;
                };
                boolean ran = replay.run(body);
                assertEquals(expected[i], ran, "step " + i + " (shape " + shapes[i] + "): " + replay.describe());
                double loss = Double.NaN, norm = Double.NaN;
                float[][] grads = null;
                if (ran) {
                    loss = suppliers[0].getAsDouble();
                    norm = suppliers[1].getAsDouble();
                    grads = gradients(cuda, model);
                }
                body.run();                                  // eagerly: the reference
                double eagerLoss = suppliers[0].getAsDouble(), eagerNorm = suppliers[1].getAsDouble();
                assertTrue(Double.isFinite(eagerLoss) && eagerNorm > 0, "step " + i + " computed something");
                if (ran) {
                    assertEquals(Double.doubleToRawLongBits(eagerLoss), Double.doubleToRawLongBits(loss), "step " + i + " loss");
                    assertEquals(Double.doubleToRawLongBits(eagerNorm), Double.doubleToRawLongBits(norm), "step " + i + " norm");
                    float[][] eagerGrads = gradients(cuda, model);
                    for (int k = 0; k < grads.length; k++)
                        assertArrayEquals(eagerGrads[k], grads[k], "step " + i + " gradient of " + model.parameters().get(k).name);
                }
            }
            CudaStepGraph g = (CudaStepGraph) replay;
            assertEquals(2, g.captures(), g.describe());
            assertEquals(4, g.replays(), g.describe());
            assertFalse(g.describe().contains("off:"), g.describe());
        }
    }

    private final DoubleSupplier[] suppliers = new DoubleSupplier[2];

    private static float[][] gradients(CudaBackend cuda, LlamaModel model) {
        float[][] out = new float[model.parameters().size()][];
        for (int k = 0; k < out.length; k++) out[k] = cuda.download(model.parameters().get(k).grad);
        return out;
    }

    private static TrainConfig config(String precision, int accum) {
        Map<String, Object> settings = new HashMap<>();
        settings.put("preset", "tiny");
        settings.put("precision", precision);
        settings.put("steps", (long) STEPS);
        settings.put("warmup", 2);
        settings.put("accum", accum);
        settings.put("batch", 2);
        settings.put("seq", 32);
        return TrainConfig.resolve(settings);
    }
}
