package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tern.cuda.CudaBackend;
import tern.train.TrainLog;

/**
 * {@code tern train --device cuda --gpus N --tensor-parallel K} end to end on a machine of several GPUs: the
 * NCCL world split by ncclCommSplit into tensor and data groups (tern.train.RankGrid), one process per GPU.
 * TP 2 on 2 GPUs, and DP 2 × TP 2 with ZeRO-1 on 4, follow one GPU's losses at the same global batch. It
 * skips, saying why, where fewer GPUs (or no CUDA, or no NCCL) are present; the CPU ranks of
 * DataParallelProcessTest cover the same code paths over TCP.
 */
class TensorParallelGpuTest {
    private static final int STEPS = 8;

    private static String[] train(Path data, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--device", "cuda", "--preset", "tiny", "--precision", "ternary",
                "--ternary-shards", "2", "--data", data.toString(), "--out", out.toString(), "--steps", Integer.toString(STEPS),
                "--batch", "4", "--seq", "64", "--accum", "2", "--eval-every", "0", "--seed", "11", "--save-every", "4"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    private static void needGpus(int n) {
        int have = CudaBackend.deviceCount();
        Assumptions.assumeTrue(have >= n, "needs " + n + " CUDA devices, this machine has " + have
                + (CudaBackend.isAvailable() ? "" : " (" + CudaBackend.unavailableReason() + ")"));
        Assumptions.assumeTrue(tern.cuda.Nccl.load() != null, "NCCL: " + tern.cuda.Nccl.unavailableReason());
    }

    private static void run(Path dir, String... args) throws Exception {
        try (ChildRun r = ChildRun.start(dir, args)) {
            assertEquals(0, r.await(600), r.output());
        }
    }

    /**
     * Relative 1e-4 per step, the data-parallel tests' bound: f32 products, but each slice is a matrix of
     * another shape, for which cuBLAS may split its sums otherwise, and the o/down partial products are summed
     * by NCCL.
     */
    private static void assertSameCurve(Path want, Path got) throws Exception {
        List<TrainLog.Step> a = TrainLog.readSteps(want.resolve(TrainLog.FILE)), b = TrainLog.readSteps(got.resolve(TrainLog.FILE));
        assertEquals(STEPS, b.size(), got + ": one log line per step");
        for (int i = 0; i < STEPS; i++)
            assertEquals(a.get(i).loss(), b.get(i).loss(), 1e-4 * Math.abs(a.get(i).loss()), got.getFileName() + ", step " + (i + 1));
    }

    @Test
    void tensorParallelOnTwoGpusFollowsOne(@TempDir Path tmp) throws Exception {
        needGpus(2);
        Path data = ReliabilityData.grammarShards(tmp.resolve("data"));
        run(tmp, train(data, tmp.resolve("one"), "--compute", "f32"));
        run(tmp, train(data, tmp.resolve("tp2"), "--compute", "f32", "--gpus", "2", "--tensor-parallel", "2"));
        assertSameCurve(tmp.resolve("one"), tmp.resolve("tp2"));
    }

    @Test
    void dataParallelTimesTensorParallelOnFourGpusFollowsOne(@TempDir Path tmp) throws Exception {
        needGpus(4);
        Path data = ReliabilityData.grammarShards(tmp.resolve("data"));
        run(tmp, train(data, tmp.resolve("one"), "--compute", "f32"));
        run(tmp, train(data, tmp.resolve("dp2-tp2"), "--compute", "f32", "--gpus", "4", "--tensor-parallel", "2", "--zero", "1"));
        assertSameCurve(tmp.resolve("one"), tmp.resolve("dp2-tp2"));
    }
}
