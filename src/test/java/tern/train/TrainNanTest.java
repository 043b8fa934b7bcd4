package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;

/**
 * A NaN reaching the loss stops training in the step where it appears: the step and the first parameter
 * with a bad gradient are named, nothing of that step is applied (weights, moments, optimizer step, log),
 * and the last checkpoint stays the latest.
 */
class TrainNanTest {

    @Test
    void aNanWeightStopsTheStepItPoisons(@TempDir Path tmp) throws IOException {
        Path data = TrainTestData.grammarShards(tmp.resolve("data"));
        Map<String, Object> settings = TrainTestData.tinyRun("ternary", data, tmp.resolve("run"), 10);
        settings.put("save_every", 3);
        settings.put("eval_every", 0);
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings), new CpuBackend())) {
            assertEquals(3, run.run(3, null, null).step());
            Backend backend = run.model().backend();
            // a float latent weight of a block turns NaN (as an overflow would leave it)
            Parameter poisoned = run.model().parameter("model.layers.2.mlp.up_proj.weight");
            poisoned.value.set(5, Float.NaN);
            Parameter head = run.model().parameter("lm_head.weight");
            float[] headBefore = backend.download(head.value);
            float[] momentBefore = backend.download(run.trainer().optimizer().fullMoments().first(head));

            TrainingDiverged e = assertThrows(TrainingDiverged.class, () -> run.run(10, null, null));
            assertEquals(4, e.step());
            assertNotNull(e.parameter(), "a NaN loss has NaN gradients too: the first is named");
            assertTrue(e.getMessage().startsWith("training diverged at step 4: the loss is NaN (first bad gradient: "), e.getMessage());
            assertEquals(3, run.trainer().step());
            assertEquals(3, run.trainer().optimizer().step());
            assertArrayEquals(headBefore, backend.download(head.value), "no update was applied");
            assertArrayEquals(momentBefore, backend.download(run.trainer().optimizer().fullMoments().first(head)), "moments untouched");
        }
        assertEquals(3, TrainLog.readSteps(tmp.resolve("run").resolve(TrainLog.FILE)).size(), "the bad step is not logged");
        assertEquals(tmp.resolve("run/checkpoints/step-000003"), TrainCheckpoint.find(tmp.resolve("run")));
    }
}
