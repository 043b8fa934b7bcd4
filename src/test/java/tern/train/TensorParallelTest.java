package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.model.TensorParallel;
import tern.runtime.AdamW;
import tern.runtime.Backend;
import tern.runtime.GradientSync;
import tern.runtime.Parameter;
import tern.runtime.ShardAxis;
import tern.runtime.Tape;
import tern.simd.CpuBackend;

/**
 * Tensor parallelism's arithmetic on CPU ranks (threads joined by {@link DataParallelTest.ThreadSync}): K = 2
 * and 4 ranks, each holding slice r of every block linear (Spectra's Figure 4 split), follow the whole model
 * for 4 AdamW steps, FloatLM and TriLM (shards = 4, so each slice keeps the whole matrix's absmean scales).
 * Every rank computes the same values but sums the o and down products and the q/k/v and gate/up input
 * gradients over the ranks in another order, so the results agree to float rounding: losses to 1e-6
 * relative at every step on every rank (measured: equal), the step-1 gradients gathered from the slices
 * to 2e-6 relative L2 per parameter (measured: at most 4.4e-7). The 4-rank runs checkpoint activations.
 */
class TensorParallelTest {
    private static final int STEPS = 4, BATCH = 2, SEQ = 8;

    private static LlamaConfig config(LinearPolicy policy) {
        // 4 heads of 4 dims, an intermediate of 24: K = 2 and K = 4 both split them evenly.
        return new LlamaConfig(37, 16, 24, 2, 4, SEQ, 1e-5f, 10000f, 4, Precision.of(policy));
    }

    private record Run(float[] losses, Map<String, float[]> firstGradients, Map<String, float[]> finalWeights) {
        Run(float[] losses, Map<String, float[]> firstGradients) { this(losses, firstGradients, null); }
    }

    private static int[][] batch(int step, int vocab) {
        Random r = new Random(100 + step);
        int[] in = new int[BATCH * SEQ], tg = new int[BATCH * SEQ];
        for (int i = 0; i < in.length; i++) {
            in[i] = r.nextInt(vocab);
            tg[i] = r.nextInt(vocab);
        }
        return new int[][] {in, tg};
    }

    /** STEPS AdamW steps of {@code model} from the same batches; the step-1 gradients by name. */
    private static Run train(LlamaModel model) {
        return train(model, null);
    }

    /**
     * As {@link #train(LlamaModel)}, with data parallelism over {@code dp} (null: none): DP rank d takes
     * sequences [d·BATCH/DP, (d+1)·BATCH/DP) of each batch, and the gradients are averaged over the DP ranks.
     */
    private static Run train(LlamaModel model, GradientSync dp) {
        Backend b = model.backend();
        int dps = dp == null ? 1 : dp.ranks(), d = dp == null ? 0 : dp.rank(), rows = BATCH / dps;
        AdamW opt = new AdamW(b, model.parameters(), 0.9f, 0.95f, 1e-8f);
        float[] losses = new float[STEPS];
        Map<String, float[]> grads = new HashMap<>();
        for (int s = 0; s < STEPS; s++) {
            int[][] io = batch(s, model.config().vocabSize());
            int[] in = java.util.Arrays.copyOfRange(io[0], d * rows * SEQ, (d + 1) * rows * SEQ);
            int[] tg = java.util.Arrays.copyOfRange(io[1], d * rows * SEQ, (d + 1) * rows * SEQ);
            opt.zeroGrad();
            try (Tape tape = new Tape(b)) {
                losses[s] = model.loss(tape, in, tg, rows, SEQ, 1f);
                tape.backward();
            }
            if (dp != null) {
                losses[s] = (float) (dp.sum(losses[s]) / dps);
                List<tern.runtime.Tensor> all = new ArrayList<>();
                for (Parameter p : model.parameters()) all.add(p.grad);
                dp.sumInPlace(all);
            }
            if (s == 0) for (Parameter p : model.parameters()) grads.put(p.name, scaled(b.download(p.grad), 1f / dps));
            opt.update(3e-2f, 0.1f, 1f / dps);
        }
        return new Run(losses, grads);
    }

    private static float[] scaled(float[] v, float by) {
        for (int i = 0; i < v.length; i++) v[i] *= by;
        return v;
    }

    private static Map<String, float[]> initialWeights(LlamaConfig config) {
        Backend b = new CpuBackend();
        Map<String, float[]> out = new HashMap<>();
        try (LlamaModel whole = new LlamaModel(b, config)) {
            whole.initialize(7);
            for (Parameter p : whole.parameters()) {
                float[] v = b.download(p.value);
                if (p.value.rank() == 2) for (int i = 0; i < v.length; i++) v[i] *= 4f;   // signals that are not tiny
                out.put(p.name, v);
            }
        }
        return out;
    }

    private static Run whole(LlamaConfig config, Map<String, float[]> init) {
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            TensorParallel.NONE.loadSlices(init::get, m);
            return train(m);
        }
    }

    /** K ranks in K threads; each rank's run. */
    private static List<Run> parallel(LlamaConfig config, Map<String, float[]> init, int k) throws Exception {
        Run[] runs = new Run[k];
        DataParallelTest.onRanks(k, (rank, sync) -> {
            try (LlamaModel m = new LlamaModel(new CpuBackend(), config, new TensorParallel(sync))) {
                m.tensorParallel().loadSlices(init::get, m);
                m.setCheckpointActivations(k == 4);    // the backward's re-run forward repeats the all-reduces, on every rank alike
                runs[rank] = train(m);
            }
            return null;
        });
        return List.of(runs);
    }

    private static void follows(LinearPolicy policy, double lossBound, double gradBound) throws Exception {
        LlamaConfig config = config(policy);
        Map<String, float[]> init = initialWeights(config);
        Run one = whole(config, init);
        for (int k : new int[] {2, 4}) {
            List<Run> ranks = parallel(config, init, k);
            for (int r = 0; r < k; r++)
                for (int s = 0; s < STEPS; s++)
                    assertEquals(one.losses[s], ranks.get(r).losses[s], lossBound * Math.abs(one.losses[s]),
                            policy.label() + ", TP=" + k + ", rank " + r + ", step " + (s + 1));
            for (String name : one.firstGradients.keySet()) {
                float[] want = one.firstGradients.get(name);
                float[] got = gathered(name, want.length, config, ranks, k);
                double d = relativeL2(got, want);
                assertTrue(d <= gradBound, policy.label() + ", TP=" + k + ": " + name + "'s step-1 gradient differs by " + d + " relative");
            }
        }
    }

    /** ‖got − want‖ / ‖want‖; fails when want is all zero (nothing flowed: the comparison would prove nothing). */
    private static double relativeL2(float[] got, float[] want) {
        assertEquals(want.length, got.length, "lengths");
        double diff = 0, norm = 0;
        for (int i = 0; i < want.length; i++) {
            diff += (double) (got[i] - want[i]) * (got[i] - want[i]);
            norm += (double) want[i] * want[i];
        }
        assertTrue(norm > 0, "a zero reference");
        return Math.sqrt(diff / norm);
    }

    /** A parameter's step-1 gradient as the whole model has it: slices placed side by side, or rank 0's copy. */
    private static float[] gathered(String name, int length, LlamaConfig config, List<Run> ranks, int k) {
        ShardAxis axis = TensorParallel.axisOf(name);
        if (axis == null) {
            for (Run r : ranks) assertArrayEquals(ranks.get(0).firstGradients.get(name), r.firstGradients.get(name), name + ": replicated, every rank alike");
            return ranks.get(0).firstGradients.get(name);
        }
        int cols = name.contains("down_proj") ? config.intermediate() : config.hidden();
        int rows = length / cols;
        float[] out = new float[length];
        for (int r = 0; r < k; r++) TensorParallel.place(ranks.get(r).firstGradients.get(name), out, rows, cols, axis, r, k);
        return out;
    }

    @Test
    void floatModelOnTwoAndFourRanksFollowsTheWholeModel() throws Exception {
        follows(LinearPolicy.FLOAT, 1e-6, 2e-6);
    }

    @Test
    void ternaryModelWithOneScalePerShardFollowsTheWholeModel() throws Exception {
        follows(new LinearPolicy.Ternary(4), 1e-6, 2e-6);
    }

    /**
     * Data parallel 2 × tensor parallel 2 on 4 threads (each TP pair its own communicator, each DP pair
     * too): the losses follow the whole model on the whole batch to 1e-6 relative (DP sums the two halves'
     * mean losses in another order), and the weights after 4 steps, gathered from the slices, to 1e-5
     * relative L2 per parameter (measured: at most 3.3e-6; Adam divides small gradients' rounding by their
     * own size). Gathering right after slicing gives the initial weights bit for bit, and so does gathering
     * after each rank's {@link LlamaModel#initialize} (the whole model's draws, sliced).
     */
    @Test
    void dataParallelTimesTensorParallelFollowsTheWholeModel() throws Exception {
        LlamaConfig config = config(new LinearPolicy.Ternary(4));
        Map<String, float[]> init = initialWeights(config);
        Map<String, float[]> wholeFinal = new HashMap<>();
        Run one;
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            TensorParallel.NONE.loadSlices(init::get, m);
            one = train(m);
            for (Parameter p : m.parameters()) wholeFinal.put(p.name, m.backend().download(p.value));
        }
        Map<String, float[]> seven = new HashMap<>();
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            m.initialize(7);
            for (Parameter p : m.parameters()) seven.put(p.name, m.backend().download(p.value));
        }
        int dps = 2, tps = 2;
        DataParallelTest.ThreadSync.Shared[] tpGroups = {new DataParallelTest.ThreadSync.Shared(tps), new DataParallelTest.ThreadSync.Shared(tps)};
        DataParallelTest.ThreadSync.Shared[] dpGroups = {new DataParallelTest.ThreadSync.Shared(dps), new DataParallelTest.ThreadSync.Shared(dps)};
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(dps * tps);
        List<java.util.concurrent.Future<Run>> futures = new ArrayList<>();
        try {
            for (int d = 0; d < dps; d++)
                for (int t = 0; t < tps; t++) {
                    int dr = d, tr = t;
                    futures.add(pool.submit(() -> {
                        CpuBackend b = new CpuBackend();
                        TensorParallel tp = new TensorParallel(new DataParallelTest.ThreadSync(tr, tps, b, tpGroups[dr]));
                        GradientSync dp = new DataParallelTest.ThreadSync(dr, dps, b, dpGroups[tr]);
                        try (LlamaModel m = new LlamaModel(b, config, tp)) {
                            m.initialize(7);
                            Map<String, float[]> drawn = tp.gatherWeights(m);
                            for (String name : seven.keySet()) assertArrayEquals(seven.get(name), drawn.get(name), name + ": initialized as the whole model is");
                            tp.loadSlices(init::get, m);
                            Map<String, float[]> start = tp.gatherWeights(m);
                            for (String name : init.keySet()) assertArrayEquals(init.get(name), start.get(name), name + ": gathered as sliced");
                            Run r = train(m, dp);
                            return new Run(r.losses(), r.firstGradients(), tp.gatherWeights(m));
                        }
                    }));
                }
            for (int i = 0; i < futures.size(); i++) {
                Run r = futures.get(i).get();
                for (int s = 0; s < STEPS; s++)
                    assertEquals(one.losses[s], r.losses[s], 1e-6 * Math.abs(one.losses[s]), "DP×TP rank " + i + ", step " + (s + 1));
                for (String name : wholeFinal.keySet()) {
                    double d = relativeL2(r.finalWeights().get(name), wholeFinal.get(name));
                    assertTrue(d <= 1e-5, "DP×TP rank " + i + ": " + name + " differs by " + d + " relative");
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void shapesThatDoNotSplitAreRefused() {
        GradientSync three = new DataParallelTest.ThreadSync(0, 3, new CpuBackend(), new DataParallelTest.ThreadSync.Shared(3));
        IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
                () -> new LlamaModel(new CpuBackend(), config(LinearPolicy.FLOAT), new TensorParallel(three)));
        assertTrue(heads.getMessage().contains("heads (4) divisible by 3"), heads.getMessage());
        GradientSync two = new DataParallelTest.ThreadSync(0, 2, new CpuBackend(), new DataParallelTest.ThreadSync.Shared(2));
        IllegalArgumentException shards = assertThrows(IllegalArgumentException.class,
                () -> new LlamaModel(new CpuBackend(), config(new LinearPolicy.Ternary(1)), new TensorParallel(two)));
        assertTrue(shards.getMessage().contains("ternary shards (1)"), shards.getMessage());
    }
}
