package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tern.model.BatchGenerator;
import tern.model.InferenceModel;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.Precision;
import tern.model.SamplingOptions;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;

/**
 * One packed file served by the one model on both devices: the CUDA backend repacks its t9 codes
 * ({@link CudaBackend#loadTernary}) and decodes with its packed GEMV; its greedy tokens equal the CPU's token
 * for token, one sequence and a batch of three, and its prompt logits agree to 1e-3 of the largest (the
 * GPU's decode kernels take x as fixed-point digits or f16, the CPU f32). Skipped without CUDA.
 */
class PackedServeCudaTest {
    @TempDir static Path dir;
    private static final int[] PROMPT = {5, 17, 300, 42, 7, 99};

    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
    }

    @Test
    void greedyTokensOnCudaEqualTheCpusFromTheSamePackedFile() throws Exception {
        LlamaConfig tiny = LlamaConfig.preset("tiny");
        LlamaConfig config = tiny.withPrecision(Precision.of(new LinearPolicy.Ternary(2)));
        Path file = dir.resolve("cuda.tern");
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            m.initialize(21);
            // Larger embedding/head weights than the 0.02 init, so logits are far apart and greedy is decisive.
            for (Parameter p : List.of(m.parameter("model.embed_tokens.weight"), m.parameter("lm_head.weight")))
                m.backend().scale(p.value, 50f);
            PackedModelWriter.write(m, null, PackedFloatMatvec.Format.F16, file);
        }
        int[] cpuTokens, gpuTokens;
        float[] cpuLogits, gpuLogits;
        int[][] cpuBatch, gpuBatch;
        try (InferenceModel cpu = InferenceModel.load(file)) {
            cpuTokens = cpu.generate(PROMPT, 40, SamplingOptions.greedy(), null);
            cpuLogits = lastLogits(cpu);
            cpuBatch = batch(cpu);
        }
        try (InferenceModel gpu = InferenceModel.load(file, Gpu.backend())) {
            gpuTokens = gpu.generate(PROMPT, 40, SamplingOptions.greedy(), null);
            gpuLogits = lastLogits(gpu);
            gpuBatch = batch(gpu);
        }
        float max = 0;
        for (float v : cpuLogits) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < cpuLogits.length; i++) assertEquals(cpuLogits[i], gpuLogits[i], 1e-3 * max, "logit " + i);
        assertArrayEquals(cpuTokens, gpuTokens, "greedy tokens, CUDA vs CPU");
        for (int i = 0; i < cpuBatch.length; i++) assertArrayEquals(cpuBatch[i], gpuBatch[i], "batched sequence " + i + ", CUDA vs CPU");
    }

    private static float[] lastLogits(InferenceModel im) {
        try (Tape tape = new Tape(im.backend(), false)) {
            float[] all = im.backend().download(im.model().logits(tape, PROMPT, 1, PROMPT.length).value);
            return java.util.Arrays.copyOfRange(all, all.length - im.config().vocabSize(), all.length);
        }
    }

    private static int[][] batch(InferenceModel im) {
        try (BatchGenerator g = im.batch()) {
            List<BatchGenerator.Sequence> s = List.of(g.join(PROMPT, 20, SamplingOptions.greedy()),
                    g.join(new int[] {3, 1, 4, 1, 5}, 25, SamplingOptions.greedy()), g.join(new int[] {9}, 15, SamplingOptions.greedy()));
            while (!g.step().isEmpty()) { }
            return s.stream().map(BatchGenerator.Sequence::tokens).toArray(int[][]::new);
        }
    }
}
