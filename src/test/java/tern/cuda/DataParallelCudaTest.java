package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tern.model.LlamaModel;
import tern.runtime.Parameter;
import tern.train.BatchSampler;
import tern.train.TokenShard;
import tern.train.TrainConfig;
import tern.train.TrainRun;
import tern.train.Trainer;

/**
 * One rank on one GPU equals the run without data parallelism: the tiny TriLM trained 4 steps (2
 * micro-batches each) with its gradients and loss summed through NCCL over a communicator of one rank gives
 * the same weights bit for bit as the same run with no {@code GradientSync} (a sum over one rank is the
 * value itself, and the collective stream's events must order it correctly against the backward and the
 * optimizer for that to hold).
 */
class DataParallelCudaTest {
    @TempDir Path dir;

    /** A moment on the device or, gathered by the sharded optimizer, on the host. */
    private static float[] download(CudaBackend cuda, tern.runtime.Tensor t) {
        return t.device() == tern.runtime.Device.CPU ? t.toFloatArray() : cuda.download(t);
    }

    @Test
    void oneRankThroughNcclEqualsTheSingleProcessRun() throws IOException {
        oneRankEqualsTheSingleProcessRun(false);
    }

    /**
     * The same with ZeRO-1: the moments sharded over one rank, the gradients reduce-scattered and the updated
     * slices all-gathered in place through NCCL (one rank: the slice is the whole tensor), and the gradient
     * norm's sum carried exactly: the weights and the gathered moments equal the plain run's bit for bit.
     */
    @Test
    void oneShardedRankThroughNcclEqualsTheSingleProcessRun() throws IOException {
        oneRankEqualsTheSingleProcessRun(true);
    }

    private void oneRankEqualsTheSingleProcessRun(boolean sharded) throws IOException {
        CudaBackend cuda = Gpu.backend();
        Nccl nccl = Nccl.load();
        Assumptions.assumeTrue(nccl != null, "NCCL: " + Nccl.unavailableReason());
        Map<String, Object> settings = new HashMap<>();
        settings.put("preset", "tiny");
        settings.put("precision", "ternary");
        settings.put("steps", 4L);
        settings.put("warmup", 1);
        settings.put("accum", 2);
        settings.put("batch", 4);
        settings.put("seq", 64);
        TrainConfig config = TrainConfig.resolve(settings);
        int vocab = tern.model.LlamaConfig.preset("tiny").vocabSize();
        Path shard = Gpu.randomShard(dir, vocab, 20_000, 7);
        try (TokenShard s = TokenShard.open(shard);
             LlamaModel plain = new LlamaModel(cuda, TrainRun.modelConfig(config, vocab));
             LlamaModel ranked = new LlamaModel(cuda, TrainRun.modelConfig(config, vocab));
             NcclGradientSync sync = new NcclGradientSync(cuda, nccl.join(nccl.uniqueId(), 1, 0))) {
            plain.initialize(3);
            ranked.initialize(3);
            Trainer a = new Trainer(config, plain, new BatchSampler(List.of(s), 4, 64, 5), List.of());
            Trainer b = new Trainer(config, ranked, new BatchSampler(List.of(s), 4, 64, 5), List.of());
            b.dataParallel(sync, sharded);
            a.run(4, null, null, null, null);
            b.run(4, null, null, null, null);
            assertEquals(0, sync.asyncError());
            for (int i = 0; i < plain.parameters().size(); i++) {
                Parameter p = plain.parameters().get(i), q = ranked.parameters().get(i);
                assertArrayEquals(cuda.download(p.value), cuda.download(q.value), p.name + " after 4 steps");
            }
            try (tern.runtime.FullMoments ma = a.optimizer().fullMoments(); tern.runtime.FullMoments mb = b.optimizer().fullMoments()) {
                for (int i = 0; i < plain.parameters().size(); i++) {
                    Parameter p = plain.parameters().get(i), q = ranked.parameters().get(i);
                    assertArrayEquals(cuda.download(ma.first(p)), download(cuda, mb.first(q)), "m of " + p.name);
                    assertArrayEquals(cuda.download(ma.second(p)), download(cuda, mb.second(q)), "v of " + p.name);
                }
            }
        }
    }
}
