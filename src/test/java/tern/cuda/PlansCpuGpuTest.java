package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tern.eval.GptqCalibration;
import tern.eval.Quantize;
import tern.eval.QuantizeResult;
import tern.model.BpeTrainer;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Backend;
import tern.simd.CpuBackend;
import tern.train.GrammarCorpus;
import tern.train.Prepare;
import tern.train.TrainCheckpoint;
import tern.train.TrainConfig;
import tern.train.TrainLog;
import tern.train.TrainRun;

/**
 * Every precision plan through the one training run on the CPU and on the GPU from the same seed and data,
 * loss compared step for step (issue #12's proof), a checkpoint written on the CPU resumed on the GPU, and
 * GPTQ on both. Bounds, relative to the CPU's loss of the same step:
 * <ul>
 * <li>f32 on the GPU ({@code --compute f32}): {@value #F32_BOUND} per step over {@value #STEPS} steps. One step
 * agrees to ~1e-5 (TrainStepCpuGpuTest); the bound leaves room for the quantizers' rounding decisions (a
 * ternary or k-bit code flipped by a last-bit difference) that the following steps carry on;</li>
 * <li>bf16 ({@code --compute bf16}, sm_80+): a band of {@value #BF16_BAND}: 8 significant bits in the products.</li>
 * </ul>
 * The worst deviation of each plan is printed, for the record. Skips without CUDA.
 */
class PlansCpuGpuTest {
    static final int STEPS = 6;
    static final double F32_BOUND = 1e-3, BF16_BAND = 3e-2;

    @TempDir static Path tmp;
    private static Path data;
    private static CudaBackend f32, bf16, fp16;                 // one of each per class: each start loads every kernel

    /** The GPU backend of {@code compute}, made once; skips the test without CUDA. */
    static synchronized CudaBackend gpu(String compute) {
        Gpu.backend();
        if (compute.equals("f32")) return f32 != null ? f32 : (f32 = CudaBackend.forCompute("f32"));
        if (compute.equals("fp16")) return fp16 != null ? fp16 : (fp16 = CudaBackend.forCompute("fp16"));
        return bf16 != null ? bf16 : (bf16 = CudaBackend.forCompute("bf16"));
    }

    @org.junit.jupiter.api.AfterAll
    static void closeBackends() {
        if (f32 != null) f32.close();
        if (bf16 != null) bf16.close();
        if (fp16 != null) fp16.close();
    }

    @BeforeAll
    static void makeData() throws IOException {
        String text = GrammarCorpus.generate(21, 80_000);
        BpeTrainer bpe = new BpeTrainer();
        bpe.addText(text);
        Tokenizer tokenizer = bpe.train(320, s -> {});
        data = tmp.resolve("data");
        Files.createDirectories(data);
        TokenizerFiles.save(tokenizer, data.resolve(TrainCheckpoint.TOKENIZER));
        Prepare.fromText(text, tokenizer, data, 0.05);
    }

    /** The plans of the issue, as train settings over the tiny preset's recipe. */
    static Map<String, Object> plan(String name) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (name) {
            case "switch-kept" -> m.putAll(Map.of("precision", "float", "switch_to", "ternary", "switch_at", 3, "reset_optimizer", false));
            case "switch-reset" -> m.putAll(Map.of("precision", "float", "switch_to", "ternary", "switch_at", 3, "reset_optimizer", true));
            case "phase-in" -> m.putAll(Map.of("precision", "float", "switch_to", "ternary", "switch_at", 1, "phase_in", 3));
            case "int4-row" -> m.put("weight_bits", 4);
            case "act8" -> m.putAll(Map.of("precision", "ternary", "act_bits", 8));
            case "kv4" -> m.putAll(Map.of("precision", "float", "kv_bits", 4));
            case "binary" -> m.put("precision", "binary");
            case "ternary" -> m.put("precision", "ternary");
            default -> throw new IllegalArgumentException(name);
        }
        return m;
    }

    static TrainConfig config(String plan, Path out) {
        Map<String, Object> s = new LinkedHashMap<>(plan(plan));
        s.put("preset", "tiny");
        s.put("data", data.toString());
        s.put("out", out.toString());
        s.put("steps", (long) STEPS);
        s.put("batch", 4);
        s.put("seq", 32);
        s.put("seed", 5L);
        s.put("eval_every", 3);
        s.put("eval_batches", 2);
        s.put("save_every", 3);
        s.put("keep", 0);
        return TrainConfig.resolve(s);
    }

    /** Trains the plan to {@code until} steps on {@code backend} in {@code out}; the log's training losses. */
    static List<Float> losses(String plan, Backend backend, Path out, long until) throws IOException {
        try (TrainRun run = TrainRun.start(config(plan, out), backend)) {
            run.run(until, null, null);
        }
        return stepLosses(out);
    }

    static List<Float> stepLosses(Path out) throws IOException {
        List<Float> l = new ArrayList<>();
        for (TrainLog.Step s : TrainLog.readSteps(out.resolve(TrainLog.FILE))) l.add(s.loss());
        return l;
    }

    /** The largest |gpu − cpu| / cpu over the steps; fails past {@code bound}. */
    static double compare(List<Float> cpu, List<Float> gpu, double bound, String what) {
        assertEquals(cpu.size(), gpu.size(), what + ": steps logged");
        double worst = 0;
        for (int i = 0; i < cpu.size(); i++) {
            double rel = Math.abs(gpu.get(i) - cpu.get(i)) / Math.abs(cpu.get(i));
            worst = Math.max(worst, rel);
            assertTrue(rel <= bound, String.format(Locale.ROOT, "%s step %d: cpu %.6f gpu %.6f (relative %.2e > %.1e)",
                    what, i + 1, cpu.get(i), gpu.get(i), rel, bound));
        }
        return worst;
    }

    @ParameterizedTest
    @ValueSource(strings = {"switch-kept", "switch-reset", "phase-in", "int4-row", "act8", "kv4", "binary", "ternary"})
    void everyPlanTrainsAlikeOnBothDevices(String plan) throws IOException {
        gpu("f32");                                              // skips without CUDA
        List<Float> cpu = losses(plan, new CpuBackend(), tmp.resolve(plan + "-cpu"), STEPS);
        assertEquals(STEPS, cpu.size());
        assertTrue(cpu.getLast() < cpu.getFirst(), plan + ": the run learns (" + cpu + ")");
        double worstF32 = compare(cpu, losses(plan, gpu("f32"), tmp.resolve(plan + "-gpu-f32"), STEPS), F32_BOUND, plan + " f32");
        double worstBf16 = Double.NaN;
        if (Gpu.backend().hasTensorCoreAttention()) {
            assertEquals("bf16", gpu("bf16").compute());
            worstBf16 = compare(cpu, losses(plan, gpu("bf16"), tmp.resolve(plan + "-gpu-bf16"), STEPS), BF16_BAND, plan + " bf16");
        }
        System.out.printf(Locale.ROOT, "plan %-12s cpu losses %s; worst relative deviation f32 %.2e, bf16 %.2e%n", plan, cpu, worstF32, worstBf16);
    }

    /** A run checkpointed on the CPU at step 3 and resumed on the GPU goes on as the CPU run does. */
    @Test
    void aCpuCheckpointResumesOnTheGpu() throws IOException {
        Gpu.backend();
        String plan = "switch-reset";                            // the hardest: Adam's count restarted at the switch
        Path straight = tmp.resolve("resume-straight"), moved = tmp.resolve("resume-moved");
        List<Float> cpu = losses(plan, new CpuBackend(), straight, STEPS);
        losses(plan, new CpuBackend(), moved, 3);
        try (TrainRun run = TrainRun.resume(moved, Map.of(), gpu("f32"))) {
            assertEquals(3, run.trainer().step());
            run.run(STEPS, null, null);
        }
        List<Float> resumed = stepLosses(moved);
        assertEquals(cpu.subList(0, 3), resumed.subList(0, 3), "the CPU part of the log is kept as it was");
        double worst = compare(cpu, resumed, F32_BOUND, "resumed on the GPU");
        System.out.printf(Locale.ROOT, "CPU checkpoint resumed on the GPU: losses %s vs %s, worst %.2e%n", cpu, resumed, worst);
    }

    /**
     * {@code --compute fp16}: fp16 products and activations with dynamic loss scaling train like the CPU (within
     * the bf16 band: fp16 keeps 11 significant bits). Started at a loss scale of 2³⁰, far past what fp16
     * holds, the first steps overflow and are run again at half the scale until they fit: the log records the
     * overflows ("fp16_overflow" lines), the scale comes down, and the losses still follow the CPU's.
     */
    @Test
    void fp16TrainsAlikeAndRecoversFromOverflowsByLossScaling() throws IOException {
        gpu("f32");
        CudaBackend gpu = gpu("fp16");
        assertEquals("fp16", gpu.compute());
        assertEquals(tern.runtime.DType.F16, gpu.activationType());
        for (String plan : List.of("ternary", "float-plain")) {
            String p = plan.equals("float-plain") ? "kv4" : plan;        // kv4 is the float model with 4-bit KV
            List<Float> cpu = losses(p, new CpuBackend(), tmp.resolve("fp16-cpu-" + plan), STEPS);
            double worst = compare(cpu, losses(p, gpu, tmp.resolve("fp16-gpu-" + plan), STEPS), BF16_BAND, p + " fp16");
            System.out.printf(Locale.ROOT, "fp16 %s: worst relative deviation %.2e%n", p, worst);
        }
        System.setProperty("tern.fp16.initialScale", Float.toString(0x1p30f));
        try {
            Path out = tmp.resolve("fp16-overflow");
            List<Float> cpu = losses("ternary", new CpuBackend(), tmp.resolve("fp16-overflow-cpu"), STEPS);
            List<Float> scaled = losses("ternary", gpu, out, STEPS);
            compare(cpu, scaled, BF16_BAND, "fp16 from an overflowing loss scale");
            List<String> overflows = Files.readAllLines(out.resolve(TrainLog.FILE)).stream()
                    .filter(l -> l.contains("\"fp16_overflow\"")).toList();
            assertTrue(!overflows.isEmpty(), "the overflows are logged");
            String last = overflows.getLast();
            double scale = Double.parseDouble(last.replaceAll(".*\"loss_scale\":\\s*([0-9.eE+-]+).*", "$1"));
            assertTrue(scale < 0x1p30 && scale >= 1, "the loss scale came down: " + last);
            System.out.printf(Locale.ROOT, "fp16 from scale 2^30: %d overflow lines, last %s%n", overflows.size(), last);
        } finally {
            System.clearProperty("tern.fp16.initialScale");
        }
    }

    /**
     * A bf16 GPU run (bf16 activations) cut at its step-3 checkpoint and resumed goes on with the same losses as
     * the uninterrupted run, bit for bit: the kernels are deterministic (ordered sums, no float atomics in the
     * step) and a checkpoint holds everything the step reads.
     */
    @Test
    void aBf16GpuRunResumedFromItsCheckpointRepeatsTheLosses() throws IOException {
        Assumptions.assumeTrue(Gpu.backend().hasTensorCoreAttention(), "bf16 needs sm_80+");
        CudaBackend gpu = gpu("bf16");
        assertEquals(tern.runtime.DType.BF16, gpu.activationType());
        for (String plan : List.of("ternary", "act8")) {
            Path straight = tmp.resolve("bf16-straight-" + plan), cut = tmp.resolve("bf16-cut-" + plan);
            List<Float> whole = losses(plan, gpu, straight, STEPS);
            losses(plan, gpu, cut, 3);
            try (TrainRun run = TrainRun.resume(cut, Map.of(), gpu)) {
                assertEquals(3, run.trainer().step());
                run.run(STEPS, null, null);
            }
            assertEquals(whole, stepLosses(cut), plan + ": resumed bf16 run vs uninterrupted");
            System.out.printf(Locale.ROOT, "bf16 %s resumed at step 3: losses %s%n", plan, whole);
        }
    }

    /**
     * GPTQ of a small random model on both devices (f32): Hessians by backend products, lazy updates on the
     * device. Bound: at least 97% of the codes agree (a flipped rounding changes the feedback after it in
     * its row), the relative output error of every linear within 5% of the CPU's, the loss after within 1e-3.
     */
    @Test
    void gptqOnTheGpuMatchesTheCpu() throws IOException {
        Gpu.backend();
        LlamaConfig shape = new LlamaConfig(512, 192, 320, 2, 4, 128, 1e-5f, 10000f, 1, tern.model.Precision.FLOAT);
        Random rnd = new Random(3);
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            int[] r = new int[128];
            for (int t = 0; t < r.length; t++) r[t] = rnd.nextInt(shape.vocabSize());
            rows.add(r);
        }
        GptqCalibration.Sequences calib = new GptqCalibration.Sequences(rows, 128);
        List<int[][]> val = new ArrayList<>();
        val.add(new int[][]{concat(rows.subList(0, 2)), shift(concat(rows.subList(0, 2)))});
        Quantize.Report cpuReport, gpuReport;
        double cpuLoss, gpuLoss;
        try (Backend cpu = new CpuBackend(); LlamaModel m = new LlamaModel(cpu, shape)) {
            m.initialize(9);
            cpuReport = Quantize.run(m, Quantize.Method.GPTQ, 4, 64, false, calib, null);
            cpuLoss = Quantize.loss(m, val, 2, 128);
        }
        try (LlamaModel m = new LlamaModel(gpu("f32"), shape)) {
            m.initialize(9);
            long t0 = System.nanoTime();
            gpuReport = Quantize.run(m, Quantize.Method.GPTQ, 4, 64, false, calib, null);
            System.out.printf(Locale.ROOT, "GPTQ on the GPU: %.2f s%n", (System.nanoTime() - t0) / 1e9);
            gpuLoss = Quantize.loss(m, val, 2, 128);
        }
        long agree = 0, total = 0;
        double worstLayer = 0;
        for (int i = 0; i < cpuReport.layers().size(); i++) {
            Quantize.LayerReport c = cpuReport.layers().get(i), g = gpuReport.layers().get(i);
            assertEquals(c.name(), g.name());
            double rel = Math.abs(g.relativeError() - c.relativeError()) / c.relativeError();
            worstLayer = Math.max(worstLayer, rel);
            assertTrue(rel <= 0.05, c.name() + ": relative output error cpu " + c.relativeError() + " gpu " + g.relativeError());
            QuantizeResult qc = cpuReport.results().get(c.name()), qg = gpuReport.results().get(c.name());
            for (int k = 0; k < qc.codes().length; k++) if (qc.codes()[k] == qg.codes()[k]) agree++;
            total += qc.codes().length;
        }
        assertTrue(agree >= 0.97 * total, agree + " of " + total + " codes agree");
        assertEquals(cpuLoss, gpuLoss, 1e-3 * cpuLoss, "validation loss after GPTQ");
        System.out.printf(Locale.ROOT, "GPTQ cpu vs gpu: codes agree %.4f, worst layer error difference %.2e, loss %.5f vs %.5f%n",
                (double) agree / total, worstLayer, cpuLoss, gpuLoss);
    }

    private static int[] concat(List<int[]> rows) {
        return rows.stream().flatMapToInt(java.util.Arrays::stream).toArray();
    }

    /** Next-token targets within each row (the last one repeats). */
    private static int[] shift(int[] ids) {
        int[] t = new int[ids.length];
        for (int i = 0; i < ids.length; i++) t[i] = (i + 1) % 128 == 0 ? ids[i] : ids[i + 1];
        return t;
    }
}
