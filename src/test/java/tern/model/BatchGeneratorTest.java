package tern.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tern.runtime.Granularity;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static tern.model.ModelTestSupport.*;

/**
 * Continuous batching against one request at a time: sequences of different prompt lengths and budgets
 * join and leave between steps, and each one's greedy tokens equal {@link Generator}'s for it alone, token
 * for token, on a trained model (several precisions) and on a packed file served by the one model.
 */
class BatchGeneratorTest {
    @TempDir static Path dir;

    static List<Precision> precisions() {
        return List.of(Precision.FLOAT,
                Precision.of(new LinearPolicy.Ternary(2)),
                Precision.of(new LinearPolicy.Int(8, Granularity.ROW)).withActivationBits(8).withKvBits(4));
    }

    /** Prompt lengths, budgets and the step at which each sequence joins (0 = before the first step). */
    private static final int[] LENGTHS = {5, 1, 9, 3}, BUDGETS = {12, 7, 15, 9}, JOIN_AT = {0, 0, 3, 4};

    @ParameterizedTest
    @MethodSource("precisions")
    void batchedGreedyEqualsOneAtATime(Precision precision) {
        LlamaConfig config = LlamaConfig.preset("tiny").withPrecision(precision);
        try (LlamaModel m = model(config, 5, 8f)) {
            check(m);
        }
    }

    @Test
    void batchedGreedyOnAPackedFileEqualsOneAtATimeAndTheCheckpoint() throws Exception {
        LlamaConfig config = LlamaConfig.preset("tiny").withPrecision(Precision.of(new LinearPolicy.Ternary(2)));
        Path file = dir.resolve("batch.tern");
        int[][] fromCheckpoint;
        try (LlamaModel m = model(config, 6, 8f)) {
            PackedModelWriter.write(m, null, PackedFloatMatvec.Format.F32, file);
            fromCheckpoint = alone(m);
        }
        for (PackedMatmul.Activations a : PackedMatmul.Activations.values())
            try (InferenceModel im = InferenceModel.load(file)) {
                im.setActivations(a);
                int[][] batched = check(im.model());
                if (a == PackedMatmul.Activations.FLOAT)
                    for (int i = 0; i < batched.length; i++)
                        assertArrayEquals(fromCheckpoint[i], batched[i], "sequence " + i + ": packed file vs checkpoint");
            }
    }

    @Test
    void perSequenceStopTokensAndLeavingMidwayFreeTheSlot() {
        LlamaConfig config = LlamaConfig.preset("tiny").withPrecision(Precision.of(new LinearPolicy.Ternary(1)));
        try (LlamaModel m = model(config, 7, 8f); Generator g = new Generator(m); BatchGenerator b = new BatchGenerator(m)) {
            int[] prompt = tokens(4, config.vocabSize(), 3);
            int[] free = g.generate(prompt, 10, SamplingOptions.greedy(), null);
            // A stop token the greedy run produces at step 4: that sequence is done there, the other goes on.
            BatchGenerator.Sequence stopping = b.join(prompt, 10, SamplingOptions.greedy().withStopToken(free[4]));
            BatchGenerator.Sequence other = b.join(prompt, 10, SamplingOptions.greedy());
            BatchGenerator.Sequence dropped = b.join(tokens(6, config.vocabSize(), 9), 10, SamplingOptions.greedy());
            b.step();
            b.leave(dropped);                                   // the client went away
            assertEquals(List.of(stopping, other), b.active());
            while (!b.step().isEmpty()) { }
            int stopAt = 0;
            while (free[stopAt] != free[4]) stopAt++;           // the first occurrence stops it
            assertArrayEquals(java.util.Arrays.copyOf(free, stopAt + 1), stopping.tokens());
            assertArrayEquals(free, other.tokens());
            assertThrows(IllegalArgumentException.class, () -> b.join(new int[0], 3, SamplingOptions.greedy()));
            assertThrows(IllegalArgumentException.class, () -> b.join(prompt, config.contextLength(), SamplingOptions.greedy()));
            assertThrows(IllegalArgumentException.class, () -> b.join(new int[] {config.vocabSize()}, 3, SamplingOptions.greedy()));
            b.leave(stopping);
            b.leave(stopping);                                  // twice: a no-op
            assertEquals(List.of(other), b.active());
        }
    }

    /** Each sequence generated alone by a Generator. */
    private static int[][] alone(LlamaModel m) {
        int[][] out = new int[LENGTHS.length][];
        try (Generator g = new Generator(m)) {
            for (int i = 0; i < LENGTHS.length; i++)
                out[i] = g.generate(tokens(LENGTHS[i], m.config().vocabSize(), 40 + i), BUDGETS[i], SamplingOptions.greedy(), null);
        }
        return out;
    }

    /** Runs the sequences batched (joining at their steps, leaving when done) and checks them against {@link #alone}. */
    private static int[][] check(LlamaModel m) {
        int[][] expected = alone(m);
        int[][] got = new int[LENGTHS.length][];
        List<BatchGenerator.Sequence> joined = new ArrayList<>();
        int maxBatch = 0;
        try (BatchGenerator b = new BatchGenerator(m)) {
            for (int step = 0; ; step++) {
                for (int i = 0; i < LENGTHS.length; i++)
                    if (JOIN_AT[i] == step) joined.add(b.join(tokens(LENGTHS[i], m.config().vocabSize(), 40 + i), BUDGETS[i], SamplingOptions.greedy()));
                List<BatchGenerator.Sequence> advanced = b.step();
                maxBatch = Math.max(maxBatch, advanced.size());
                for (BatchGenerator.Sequence s : b.active())
                    if (s.done()) {
                        got[s.id()] = s.tokens();
                        b.leave(s);
                    }
                if (advanced.isEmpty() && step > JOIN_AT[JOIN_AT.length - 1]) break;
            }
        }
        assertEquals(LENGTHS.length, maxBatch, "every sequence was in one step at some point");
        for (int i = 0; i < LENGTHS.length; i++)
            assertArrayEquals(expected[i], got[i], "sequence " + i + " (prompt " + LENGTHS[i] + ", budget " + BUDGETS[i] + ") batched vs alone");
        return got;
    }
}
