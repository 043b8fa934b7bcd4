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
        return train(data, out, sync, false);
    }

    private static Curve train(Path data, Path out, GradientSync sync, boolean sharded) throws Exception {
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(data, out)), new CpuBackend())) {
            if (sync != null) run.trainer().dataParallel(sync, sharded);
            float[] losses = new float[STEPS];
            for (int i = 0; i < STEPS; i++) losses[i] = run.trainer().trainStep().loss();
            return new Curve(losses, run.model().backend().download(run.model().parameter("model.layers.0.mlp.down_proj.weight").value));
        }
    }

    @Test
    void twoAndFourRanksFollowTheSingleProcessRun(@TempDir Path tmp) throws Exception {
        followTheSingleProcessRun(tmp, false);
    }

    /**
     * ZeRO-1 (the AdamW state sharded, gradients reduce-scattered, slices all-gathered): the same bounds as
     * the unsharded job, and one rank is the single-process run bit for bit.
     */
    @Test
    void shardedOptimizerFollowsTheSingleProcessRun(@TempDir Path tmp) throws Exception {
        Path data = followTheSingleProcessRun(tmp, true);
        Curve one = train(data, tmp.resolve("again"), null);
        Curve sharded = train(data, tmp.resolve("one-rank"), new ThreadSync(0, 1, new CpuBackend(), new ThreadSync.Shared(1)), true);
        assertArrayEquals(one.losses, sharded.losses, "one sharded rank: the same losses");
        assertArrayEquals(one.weights, sharded.weights, "one sharded rank: the same weights");
    }

    private static Path followTheSingleProcessRun(Path tmp, boolean sharded) throws Exception {
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
                    return train(data, tmp.resolve("rank" + ranks + "-" + rank), new ThreadSync(rank, ranks, b, shared), sharded);
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
        return data;
    }

    /**
     * Checkpoints do not depend on the ranks: 2 ranks with a sharded optimizer (TrainRun's follower mode:
     * rank 0 alone writes) save at step 3; that run resumes on 1 process (whole optimizer) and, from a copy,
     * on 4 sharded ranks, and both continue the single-process run's losses (1e-5 relative).
     */
    @Test
    void aShardedTwoRankCheckpointResumesOnOneAndOnFourRanks(@TempDir Path tmp) throws Exception {
        Path data = TrainTestData.grammarShards(tmp.resolve("data"));
        Path single = tmp.resolve("single");
        try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(data, single)), new CpuBackend())) {
            run.run(STEPS, null, null);
        }
        Path two = tmp.resolve("two");
        onRanks(2, (rank, sync) -> {
            try (TrainRun run = TrainRun.start(TrainConfig.resolve(settings(data, two)), new CpuBackend(), null, new TrainRun.Ranks(sync, true))) {
                run.run(3, null, null);
                if (rank == 1) assertEquals(null, run.log(), "a follower keeps no log");
            }
            return null;
        });
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(two)) {
            assertEquals(java.util.Set.of("checkpoints", "train_config.json", "train_log.jsonl", "train.lock"),
                    files.map(f -> f.getFileName().toString()).collect(java.util.stream.Collectors.toSet()), "rank 0's files only");
        }
        Path four = tmp.resolve("four");
        copyTree(two, four);
        try (TrainRun run = TrainRun.resume(two, Map.of(), new CpuBackend())) {
            run.run(STEPS, null, null);
        }
        onRanks(4, (rank, sync) -> {
            try (TrainRun run = TrainRun.resume(four, Map.of(), new CpuBackend(), new TrainRun.Ranks(sync, true))) {
                run.run(STEPS, null, null);
            }
            return null;
        });
        List<TrainLog.Step> want = TrainLog.readSteps(single.resolve(TrainLog.FILE));
        for (Path resumed : List.of(two, four)) {
            List<TrainLog.Step> got = TrainLog.readSteps(resumed.resolve(TrainLog.FILE));
            assertEquals(STEPS, got.size(), resumed + ": one log line per step");
            for (int i = 0; i < STEPS; i++)
                assertEquals(want.get(i).loss(), got.get(i).loss(), 1e-5 * Math.abs(want.get(i).loss()), resumed.getFileName() + ", step " + (i + 1));
        }
    }

    @FunctionalInterface
    interface RankBody {
        Object run(int rank, GradientSync sync) throws Exception;
    }

    /** Runs body on {@code ranks} threads joined by one {@link ThreadSync}; rethrows the first failure. */
    static void onRanks(int ranks, RankBody body) throws Exception {
        ThreadSync.Shared shared = new ThreadSync.Shared(ranks);
        ExecutorService pool = Executors.newFixedThreadPool(ranks);
        try {
            List<Future<Object>> fs = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                fs.add(pool.submit(() -> body.run(rank, new ThreadSync(rank, ranks, new CpuBackend(), shared))));
            }
            for (Future<Object> f : fs) f.get();
        } finally {
            pool.shutdownNow();
        }
    }

    private static void copyTree(Path from, Path to) throws java.io.IOException {
        try (java.util.stream.Stream<Path> all = java.nio.file.Files.walk(from)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                Path q = to.resolve(from.relativize(p).toString());
                if (java.nio.file.Files.isDirectory(p)) java.nio.file.Files.createDirectories(q);
                else if (!p.getFileName().toString().equals(RunLock.FILE)) java.nio.file.Files.copy(p, q);
            }
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
