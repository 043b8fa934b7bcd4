package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tern.runtime.Backend;
import tern.runtime.GradientSync;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

/**
 * Data parallelism's arithmetic, on the CPU: N trainers in N threads, joined by an in-process
 * {@link GradientSync} that sums host copies in rank order (what NCCL does over GPUs), follow the
 * single-process run of the same global batch. The micro-batches are the same and the gradients are the
 * same sums, grouped differently (each rank's share first), so the losses agree to float rounding: the
 * bound is 1e-5 relative, step for step, over 6 steps; the weights after them to 1e-4 relative.
 */
class DataParallelTest {
    private static final int STEPS = 6, ACCUM = 4;

    /** N ranks in one JVM: contributions meet at a barrier and are summed in rank order. */
    static final class ThreadSync implements GradientSync {
        private final int rank, ranks;
        private final Backend backend;
        private final Shared shared;

        static final class Shared {
            final CyclicBarrier barrier;
            final Object[] slots;
            Shared(int ranks) { barrier = new CyclicBarrier(ranks); slots = new Object[ranks]; }
        }

        ThreadSync(int rank, int ranks, Backend backend, Shared shared) {
            this.rank = rank;
            this.ranks = ranks;
            this.backend = backend;
            this.shared = shared;
        }

        @Override public int rank() { return rank; }
        @Override public int ranks() { return ranks; }

        private void await() {
            try {
                shared.barrier.await();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void sumInPlace(List<Tensor> tensors) {
            List<float[]> mine = new ArrayList<>();
            for (Tensor t : tensors) mine.add(backend.download(t));
            shared.slots[rank] = mine;
            await();
            for (int i = 0; i < tensors.size(); i++) {
                float[] sum = new float[mine.get(i).length];
                for (int r = 0; r < ranks; r++) {
                    @SuppressWarnings("unchecked") float[] c = ((List<float[]>) shared.slots[r]).get(i);
                    for (int j = 0; j < sum.length; j++) sum[j] += c[j];
                }
                try (Tensor s = backend.upload(sum, sum.length)) {
                    backend.copy(s, tensors.get(i));
                }
            }
            await();
        }

        /** The whole sums: a superset of what the contract asks (this rank's slices and the tails). */
        @Override
        public void reduceScatterInPlace(List<Tensor> tensors) {
            sumInPlace(tensors);
        }

        @Override
        public void allGatherInPlace(List<Tensor> tensors) {
            List<float[]> mine = new ArrayList<>();
            for (Tensor t : tensors) mine.add(backend.download(t));
            shared.slots[rank] = mine;
            await();
            for (int i = 0; i < tensors.size(); i++) {
                float[] out = mine.get(i).clone();
                int k = (int) GradientSync.shardLength(out.length, ranks);
                for (int r = 0; r < ranks; r++) {
                    @SuppressWarnings("unchecked") float[] c = ((List<float[]>) shared.slots[r]).get(i);
                    System.arraycopy(c, r * k, out, r * k, k);
                }
                try (Tensor s = backend.upload(out, out.length)) {
                    backend.copy(s, tensors.get(i));
                }
            }
            await();
        }

        @Override
        public double sum(double value) {
            shared.slots[rank] = value;
            await();
            double s = 0;
            for (int r = 0; r < ranks; r++) s += (Double) shared.slots[r];
            await();
            return s;
        }
    }

    private static Map<String, Object> settings(Path data, Path out) {
        Map<String, Object> s = TrainTestData.tinyRun("ternary", data, out, STEPS);
        s.put("accum", ACCUM);
        s.put("batch", 2);
        s.put("eval_every", 0);
        return s;
    }

    private record Curve(float[] losses, float[] weights) {}

    private static Curve train(Path data, Path out, GradientSync sync) throws Exception {
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(data, out)), new CpuBackend())) {
            if (sync != null) run.trainer().dataParallel(sync);
            float[] losses = new float[STEPS];
            for (int i = 0; i < STEPS; i++) losses[i] = run.trainer().trainStep().loss();
            return new Curve(losses, run.model().backend().download(run.model().parameter("model.layers.0.mlp.down_proj.weight").value));
        }
    }

    @Test
    void twoAndFourRanksFollowTheSingleProcessRun(@TempDir Path tmp) throws Exception {
        Path data = TrainTestData.grammarShards(tmp.resolve("data"));
        Curve one = train(data, tmp.resolve("single"), null);
        for (int ranks : new int[] {2, 4}) {
            ThreadSync.Shared shared = new ThreadSync.Shared(ranks);
            ExecutorService pool = Executors.newFixedThreadPool(ranks);
            List<Future<Curve>> curves = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                curves.add(pool.submit(() -> {
                    CpuBackend b = new CpuBackend();
                    return train(data, tmp.resolve("rank" + ranks + "-" + rank), new ThreadSync(rank, ranks, b, shared));
                }));
            }
            List<Curve> got = new ArrayList<>();
            for (Future<Curve> f : curves) got.add(f.get());
            pool.shutdown();
            for (int r = 0; r < ranks; r++) {
                for (int i = 0; i < STEPS; i++)
                    assertEquals(one.losses[i], got.get(r).losses[i], 1e-5 * Math.abs(one.losses[i]),
                            ranks + " ranks, rank " + r + ", step " + (i + 1));
                double diff = 0, norm = 0;
                for (int j = 0; j < one.weights.length; j++) {
                    double d = got.get(r).weights[j] - one.weights[j];
                    diff += d * d;
                    norm += (double) one.weights[j] * one.weights[j];
                }
                assertTrue(Math.sqrt(diff / norm) < 1e-4, ranks + " ranks, rank " + r + ": weights differ by " + Math.sqrt(diff / norm));
            }
            assertArrayEquals(got.get(0).weights, got.get(ranks - 1).weights, "every rank holds the same weights");
        }
    }

    @Test
    void accumulationMustShareOutEvenly(@TempDir Path tmp) throws Exception {
        Path data = TrainTestData.grammarShards(tmp.resolve("data"));
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(data, tmp.resolve("r"))), new CpuBackend())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> run.trainer().dataParallel(new ThreadSync(0, 3, run.model().backend(), new ThreadSync.Shared(3))));
            assertTrue(e.getMessage().contains("accum") && e.getMessage().contains("3 ranks"), e.getMessage());
        }
    }
}
