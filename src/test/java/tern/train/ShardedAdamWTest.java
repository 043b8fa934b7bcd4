package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import tern.runtime.AdamW;
import tern.runtime.DType;
import tern.runtime.FullMoments;
import tern.runtime.GradientSync;
import tern.runtime.Parameter;
import tern.runtime.ShardedAdamW;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

/**
 * ZeRO-1 against the whole optimizer: N ranks in N threads, joined over loopback TCP ({@link TcpGradientSync},
 * the transport of CPU ranks in separate processes), each with its own gradients, run {@link ShardedAdamW};
 * one {@link AdamW} runs on the gradients summed in rank order. Parameter sizes are random, down to fewer
 * elements than ranks (a tensor that is all tail) and ragged tails, so every slice rule is met. AdamW is
 * elementwise and the sharded optimizer updates each element once with the same inputs, so the weights
 * and moments after three updates are the same bits on every rank. The global gradient norm is summed in
 * another grouping (each slice's squares in float lanes, as the CPU backend sums a tensor, then the ranks'
 * sums), so it is compared to 1e-6 relative, and exactly for one rank (one slice: the whole tensor).
 */
class ShardedAdamWTest {
    private static final int STEPS = 3;
    private static final float LR = 0.01f, WD = 0.1f, SCALE = 0.5f;

    private record RankResult(List<float[]> weights, List<float[]> m, List<float[]> v, double[] norms, long state) {}

    private static List<Parameter> params(List<Integer> sizes, long seed) {
        Random r = new Random(seed);
        List<Parameter> ps = new ArrayList<>();
        for (int i = 0; i < sizes.size(); i++) {
            float[] w = new float[sizes.get(i)];
            for (int j = 0; j < w.length; j++) w[j] = (float) r.nextGaussian();
            ps.add(new Parameter("p" + i, Tensor.of(w, w.length), Tensor.zeros(DType.F32, w.length), i % 2 == 0));
        }
        return ps;
    }

    private static float[] grad(long seed, int rank, int step, int param, int n) {
        Random r = new Random(seed * 1_000_003L + rank * 7919L + step * 31L + param);
        float[] g = new float[n];
        for (int j = 0; j < n; j++) g[j] = (float) r.nextGaussian();
        return g;
    }

    @Property(tries = 20)
    void shardedStepsEqualTheWholeOptimizerBitForBit(@ForAll @IntRange(min = 1, max = 4) int ranks,
                                                     @ForAll @Size(min = 1, max = 4) List<@IntRange(min = 1, max = 41) Integer> sizes,
                                                     @ForAll @IntRange(min = 0, max = 1_000_000) int seed) throws Exception {
        CpuBackend cpu = new CpuBackend();
        // the reference: whole AdamW on the rank-ordered sums
        List<Parameter> ref = params(sizes, seed);
        double[] refNorms = new double[STEPS];
        try (AdamW whole = new AdamW(cpu, ref, 0.9f, 0.95f, 1e-8f)) {
            for (int s = 0; s < STEPS; s++) {
                for (int i = 0; i < ref.size(); i++) {
                    int n = sizes.get(i);
                    float[] sum = grad(seed, 0, s, i, n);
                    for (int r = 1; r < ranks; r++) {
                        float[] g = grad(seed, r, s, i, n);
                        for (int j = 0; j < n; j++) sum[j] += g[j];
                    }
                    try (Tensor t = Tensor.of(sum, n)) { cpu.copy(t, ref.get(i).grad); }
                }
                refNorms[s] = whole.gradNorm();
                whole.update(LR, WD, SCALE);
            }
            int port = RankLauncherPorts.free();
            ExecutorService pool = Executors.newFixedThreadPool(ranks);
            List<Future<RankResult>> futures = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                futures.add(pool.submit(() -> runRank(rank, ranks, port, sizes, seed)));
            }
            long total = sizes.stream().mapToLong(Integer::longValue).sum();
            for (int r = 0; r < ranks; r++) {
                RankResult got = futures.get(r).get();
                for (int i = 0; i < ref.size(); i++) {
                    assertArrayEquals(ref.get(i).value.toFloatArray(), got.weights.get(i), "rank " + r + " of " + ranks + ", weights of p" + i);
                    assertArrayEquals(whole.firstMoment(ref.get(i)).toFloatArray(), got.m.get(i), "rank " + r + ", m of p" + i);
                    assertArrayEquals(whole.secondMoment(ref.get(i)).toFloatArray(), got.v.get(i), "rank " + r + ", v of p" + i);
                }
                for (int s = 0; s < STEPS; s++)
                    assertEquals(refNorms[s], got.norms[s], ranks == 1 ? 0 : 1e-6 * refNorms[s], "rank " + r + ", gradient norm of step " + (s + 1));
                long bound = total / ranks + sizes.size() * (long) ranks;   // its slices plus the tails
                assertTrue(got.state <= bound, "rank " + r + " holds " + got.state + " moment elements, more than " + bound);
            }
            pool.shutdown();
        }
    }

    private static RankResult runRank(int rank, int ranks, int port, List<Integer> sizes, int seed) throws Exception {
        CpuBackend cpu = new CpuBackend();
        List<Parameter> ps = params(sizes, seed);
        double[] norms = new double[STEPS];
        try (TcpGroup group = TcpGroup.join(new InetSocketAddress("127.0.0.1", port), rank, ranks, "sharded-test", 30_000);
             GradientSync sync = new TcpGradientSync(group, cpu);
             ShardedAdamW opt = new ShardedAdamW(cpu, ps, sync, 0.9f, 0.95f, 1e-8f)) {
            for (int s = 0; s < STEPS; s++) {
                for (int i = 0; i < ps.size(); i++)
                    try (Tensor t = Tensor.of(grad(seed, rank, s, i, sizes.get(i)), sizes.get(i))) { cpu.copy(t, ps.get(i).grad); }
                opt.combineGradients(sync);
                norms[s] = opt.gradNorm();
                opt.update(LR, WD, SCALE);
            }
            List<float[]> w = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
            try (FullMoments full = opt.fullMoments()) {
                for (Parameter p : ps) {
                    w.add(p.value.toFloatArray());
                    m.add(full.first(p).toFloatArray());
                    v.add(full.second(p).toFloatArray());
                }
                // a checkpoint's moments loaded into a fresh sharded optimizer gather back to the same
                try (ShardedAdamW again = new ShardedAdamW(cpu, ps, sync, 0.9f, 0.95f, 1e-8f)) {
                    for (Parameter p : ps) again.loadMoments(p, full.first(p), full.second(p));
                    try (FullMoments back = again.fullMoments()) {
                        for (Parameter p : ps) {
                            assertArrayEquals(full.first(p).toFloatArray(), back.first(p).toFloatArray(), "reloaded m of " + p.name);
                            assertArrayEquals(full.second(p).toFloatArray(), back.second(p).toFloatArray(), "reloaded v of " + p.name);
                        }
                    }
                }
            }
            return new RankResult(w, m, v, norms, opt.stateElements());
        }
    }
}
