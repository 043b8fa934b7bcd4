package tern.train;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tern.model.LlamaConfig;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The memory plan's choice of activation checkpointing: none when the run fits without, the fewest
 * blocks that make it fit with "auto", all with "on", and a refusal naming both estimates with "off".
 * The available memory is forced with {@code -Dtern.memory.available} (what the GPU's cuMemGetInfo would
 * give on a device).
 */
class MemoryPlanTest {
    @AfterEach
    void clear() { System.clearProperty(MemoryPlan.AVAILABLE_PROPERTY); }

    private static TrainConfig config(String checkpointing) {
        Map<String, Object> s = new HashMap<>();
        s.put("preset", "3.9B");
        s.put("precision", "ternary");
        s.put("batch", 8);
        s.put("seq", 2048);
        s.put("checkpoint_activations", checkpointing);
        return TrainConfig.resolve(s);
    }

    private static MemoryPlan plan(String checkpointing, long available) {
        System.setProperty(MemoryPlan.AVAILABLE_PROPERTY, Long.toString(available));
        TrainConfig c = config(checkpointing);
        return MemoryPlan.training(TrainRun.modelConfig(c, LlamaConfig.SPECTRA_VOCAB), c);
    }

    @Test
    void autoCheckpointsTheFewestBlocksThatFit() {
        long huge = 1L << 50;
        MemoryPlan roomy = plan("auto", huge);
        assertEquals(0, roomy.checkpointedBlocks());
        long plain = roomy.bytesNeeded();
        long all = plan("on", huge).bytesNeeded();
        assertTrue(all < 0.6 * plain, "checkpointing every block " + all + " vs plain " + plain);

        // 141 GB (an H200): the 3.9B TriLM at 8×2048 fits only with some blocks checkpointed, not all.
        MemoryPlan h200 = plan("auto", 141_000_000_000L);
        int n = h200.checkpointedBlocks();
        assertTrue(n > 0 && n < 30, n + " of 30 blocks");
        assertTrue(h200.bytesNeeded() <= 141_000_000_000L * 0.90, h200.describe());
        h200.check();
        assertTrue(h200.describe().contains(n + " of 30 blocks checkpointed"), h200.describe());
        // more memory never checkpoints more blocks, and less never fewer
        assertTrue(plan("auto", 160_000_000_000L).checkpointedBlocks() < n);
        assertTrue(plan("auto", 120_000_000_000L).checkpointedBlocks() > n);
    }

    @Test
    void offRefusesAndSaysWhatCheckpointingWouldNeed() {
        MemoryPlan off = plan("off", 141_000_000_000L);
        assertEquals(0, off.checkpointedBlocks());
        var e = assertThrows(MemoryPlan.InsufficientMemory.class, off::check);
        assertTrue(e.getMessage().contains("not enough memory for training the 3.9B preset (ternary, batch 8×2048)"), e.getMessage());
        assertTrue(e.getMessage().contains("activation checkpointing (checkpoint_activations auto or on) would need about"), e.getMessage());
        assertEquals(30, plan("on", 141_000_000_000L).checkpointedBlocks());
    }

    @Test
    void tooSmallEvenWithCheckpointingIsRefused() {
        MemoryPlan tiny = plan("auto", 20_000_000_000L);
        assertEquals(30, tiny.checkpointedBlocks());
        var e = assertThrows(MemoryPlan.InsufficientMemory.class, tiny::check);
        assertTrue(e.getMessage().contains("with 30 of 30 blocks checkpointed"), e.getMessage());
    }

    @Test
    void aBadSettingIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> config("sometimes"));
        assertTrue(e.getMessage().contains("checkpoint_activations"), e.getMessage());
    }

    /**
     * A tensor-parallel rank holds 1/K of the block linears: the estimate drops by (K−1)/K of their 16 bytes
     * of weight, gradient and moments and of their 2-bit packed copy, and nothing else (the activations stay
     * counted whole, an over-estimate). On the H200 the 3.9B TriLM then needs fewer blocks checkpointed.
     */
    @Test
    void aTensorParallelRankCountsItsSliceOfTheBlockLinears() {
        System.setProperty(MemoryPlan.AVAILABLE_PROPERTY, Long.toString(141_000_000_000L));
        TrainConfig c = config("auto");
        LlamaConfig m = TrainRun.modelConfig(c, LlamaConfig.SPECTRA_VOCAB);
        MemoryPlan whole = MemoryPlan.training(m, c, null, 1), half = MemoryPlan.training(m, c, null, 2);
        long linear = m.linearParametersPerLayer() * m.layers();
        MemoryPlan wholeOn = MemoryPlan.training(m, c.with(Map.of("checkpoint_activations", "on")), null, 1);
        MemoryPlan halfOn = MemoryPlan.training(m, c.with(Map.of("checkpoint_activations", "on")), null, 2);
        assertEquals(linear / 2 * 16 + linear / 4 / 2, wholeOn.bytesNeeded() - halfOn.bytesNeeded(), "the halved linears, exactly");
        assertTrue(half.checkpointedBlocks() < whole.checkpointedBlocks(), half.checkpointedBlocks() + " vs " + whole.checkpointedBlocks() + " blocks");
    }
}
