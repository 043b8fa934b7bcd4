package tern.cuda;

import java.util.Arrays;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import tern.model.Generator;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.model.PreparedWeights;
import tern.model.RandomServedWeights;
import tern.model.SamplingOptions;
import tern.runtime.DType;
import tern.runtime.Tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CUDA graphs: the facility's rules (a replay runs what was recorded, capture runs nothing, a body that
 * synchronizes is refused), and the captured decode step: graph replays give the same bits as eager
 * launches of the same step, batched rows match single rows, and greedy generation through the graph
 * gives the same tokens as the op-by-op decode (logits within f32 summation error).
 */
class CudaGraphDecodeTest {
    /** 2 layers, 4 heads of 32, vocabulary 384: every kernel of the step, ragged against the GEMV tiles. */
    static final LlamaConfig SHAPE = new LlamaConfig(384, 128, 344, 2, 4, 96, 1e-5f, 10000f, 1, Precision.FLOAT);

    static CudaBackend cuda() {
        CudaBackend c = Gpu.backend();
        Assumptions.assumeTrue(c.arch() >= 80, "the CUDA graph decode step needs sm_80");
        return c;
    }

    @Test
    void aReplayRunsTheRecordedKernelsAndCaptureRunsNone() {
        CudaBackend c = Gpu.backend();
        try (Tensor t = c.upload(new float[] {1f, -2f, 3f}, 3); CudaGraphStream s = new CudaGraphStream(c.context(), 64);
             CudaGraph g = CudaGraph.capture(s, () -> c.launchOn(s.handle(), () -> c.scale(t, 2f)))) {
            assertArrayEquals(new float[] {1f, -2f, 3f}, c.download(t), "capturing executed the kernel");
            for (int i = 0; i < 3; i++) g.launch();
            s.synchronize();
            assertArrayEquals(new float[] {8f, -16f, 24f}, c.download(t));
            assertTrue(g.nodes() >= 1);
        }
    }

    @Test
    void aBodyThatSynchronizesIsRefusedAndTheStreamStaysUsable() {
        CudaBackend c = Gpu.backend();
        try (Tensor t = c.upload(new float[] {1f}, 1); CudaGraphStream s = new CudaGraphStream(c.context(), 64)) {
            CudaGraphException e = assertThrows(CudaGraphException.class,
                    () -> CudaGraph.capture(s, () -> c.launchOn(s.handle(), () -> { c.scale(t, 2f); c.synchronize(); })));
            assertTrue(e.getMessage().contains("capture"), e.getMessage());
            c.launchOn(s.handle(), () -> c.scale(t, 3f));
            s.synchronize();
            assertArrayEquals(new float[] {3f}, c.download(t), "eager launches after a refused capture");
        }
    }

    @Test
    void graphReplaysEqualEagerLaunchesBitForBit() {
        // Each way of computing the products in turn (by default the unfused step times them: here both steps
        // must take the same).
        for (String products : new String[] {"fused", "split", "tensor"}) {
            String before = System.getProperty("tern.cuda.decodeProducts");
            System.setProperty("tern.cuda.decodeProducts", products);
            try {
                graphEqualsEager(SHAPE, 5);
            } finally {
                restore("tern.cuda.decodeProducts", before);
            }
        }
    }

    /** The products part of describe() (after how the step runs). */
    private static String products(CudaGraphDecodeStep step) {
        String d = step.describe();
        return d.substring(d.indexOf(';'));
    }

    static void restore(String key, String value) {
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
    }

    /** Graph and eager steps of two rows, 30 steps: the same bits; returns the logits of each step. */
    static float[][] graphEqualsEager(LlamaConfig shape, long seed) {
        CudaBackend c = cuda();
        float[][] all = new float[30][];
        try (LlamaModel m = RandomServedWeights.model(c, shape, seed, false); PreparedWeights w = PreparedWeights.of(m);
             CudaGraphDecodeStep graph = new CudaGraphDecodeStep(m, w.packed(), 2, true);
             CudaGraphDecodeStep eager = new CudaGraphDecodeStep(m, w.packed(), 2, false);
             Caches a = new Caches(c, 2, 40); Caches b = new Caches(c, 2, 40)) {
            assertTrue(graph.captured(), graph.describe());
            assertFalse(eager.captured());
            assertEquals(products(graph), products(eager));
            int[] tokens = {3, 250};
            for (int step = 0; step < 30; step++) {
                int[] pos = {step, step + 5};           // row 1 runs ahead: different positions and KV lengths
                float[] g = graph.step(tokens, pos, a.keys, a.values);
                float[] e = eager.step(tokens, pos, b.keys, b.values);
                assertArrayEquals(e, g, "step " + step + " (" + graph.describe() + ")");
                all[step] = g;
                tokens = new int[] {argmax(g, 0), argmax(g, 1)};
            }
        }
        return all;
    }

    @Test
    void batchedRowsMatchSingleRows() {
        CudaBackend c = cuda();
        try (LlamaModel m = RandomServedWeights.model(c, SHAPE, 6, false); PreparedWeights w = PreparedWeights.of(m);
             CudaGraphDecodeStep three = new CudaGraphDecodeStep(m, w.packed(), 3, true);
             CudaGraphDecodeStep one = new CudaGraphDecodeStep(m, w.packed(), 1, true);
             Caches batch = new Caches(c, 3, 24); Caches single = new Caches(c, 3, 24)) {
            int[] tokens = {1, 2, 3};
            for (int step = 0; step < 12; step++) {
                int[] pos = {step, 2 * step, step + 11};
                float[] all = three.step(tokens, pos, batch.keys, batch.values);
                for (int b = 0; b < 3; b++) {
                    float[] alone = one.step(new int[] {tokens[b]}, new int[] {pos[b]}, new Tensor[][] {single.keys[b]}, new Tensor[][] {single.values[b]});
                    Gpu.assertClose(Arrays.copyOfRange(all, b * SHAPE.vocabSize(), (b + 1) * SHAPE.vocabSize()), Gpu.toDouble(alone), 1e-5,
                            "step " + step + " row " + b);
                }
                // Rows 1 and 2 skip positions (2·step; from 11): the gaps stay zero in both caches alike.
                tokens = new int[] {argmax(all, 0), argmax(all, 1), argmax(all, 2)};
            }
        }
    }

    @Test
    void greedyTokensThroughTheGraphEqualTheOpByOpDecode() {
        CudaBackend c = cuda();
        int[] prompt = {7, 11, 13, 17, 19};
        try (LlamaModel m = RandomServedWeights.model(c, SHAPE, 7, false)) {
            int[] opByOp = generate(m, prompt, "false");
            int[] eager = generate(m, prompt, "eager");
            int[] graph = generate(m, prompt, "true");
            assertArrayEquals(opByOp, graph, "graph vs op-by-op greedy tokens");
            assertArrayEquals(eager, graph, "graph vs eager greedy tokens");
            assertEquals(40, graph.length);
        }
    }

    private static int[] generate(LlamaModel m, int[] prompt, String graphSetting) {
        String before = System.getProperty("tern.cuda.graph");
        System.setProperty("tern.cuda.graph", graphSetting);
        try (Generator g = new Generator(m)) {
            int[] out = g.generate(prompt, 40, SamplingOptions.greedy(), null);
            if (!graphSetting.equals("false")) assertTrue(g.stepMode().startsWith(graphSetting.equals("true") ? "CUDA graph" : "eager"), g.stepMode());
            return out;
        } finally {
            if (before == null) System.clearProperty("tern.cuda.graph");
            else System.setProperty("tern.cuda.graph", before);
        }
    }

    static int argmax(float[] logits, int row) {
        int v = SHAPE.vocabSize(), best = 0;
        for (int i = 1; i < v; i++) if (logits[row * v + i] > logits[row * v + best]) best = i;
        return best;
    }

    /** Per row, per layer KV caches [capacity, hidden] (KvCache's layout), zeroed. */
    static final class Caches implements AutoCloseable {
        final Tensor[][] keys, values;

        Caches(CudaBackend c, int rows, int capacity) {
            keys = new Tensor[rows][SHAPE.layers()];
            values = new Tensor[rows][SHAPE.layers()];
            for (int b = 0; b < rows; b++)
                for (int l = 0; l < SHAPE.layers(); l++) {
                    keys[b][l] = c.zeros(DType.F32, capacity, SHAPE.hidden());
                    values[b][l] = c.zeros(DType.F32, capacity, SHAPE.hidden());
                }
        }

        @Override public void close() {
            for (Tensor[] r : keys) for (Tensor t : r) t.close();
            for (Tensor[] r : values) for (Tensor t : r) t.close();
        }
    }
}
