package tern.cuda;

import java.util.Locale;

import tern.model.BatchGenerator;
import tern.model.Generator;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.RandomServedWeights;
import tern.model.SamplingOptions;

/**
 * Packed decode on the GPU at a preset's shape with random ternary weights (no file), batch 1 greedy through
 * the {@link Generator} three ways in alternating runs of one process — op by op (-Dtern.cuda.graph=false:
 * one launch per kernel), as the captured unfused step (twelve kernels per layer) and as the captured fused
 * step (five per layer; CudaGraphDecodeStep's default) — then a batched step of B
 * sequences (BatchGenerator, op by op). Weights are made on the device (DeviceRandomWeights; "host" as a 4th
 * argument: RandomServedWeights). Run by tools/gpu/packed-decode.sh:
 * {@code PackedDecodeBench [preset=3.9B] [tokens=256] [batch=8] [device|host]}. Prints "name,value" lines.
 */
public final class PackedDecodeBench {
    private PackedDecodeBench() {}

    public static void main(String[] args) {
        String preset = args.length > 0 ? args[0] : "3.9B";
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        boolean hostWeights = args.length > 3 && args[3].equals("host");
        CudaBackend cuda = CudaBackend.forCompute(null);
        LlamaConfig shape = LlamaConfig.preset(preset);
        long t0 = System.nanoTime();
        try (LlamaModel m = hostWeights ? RandomServedWeights.model(cuda, shape, 1, false) : DeviceRandomWeights.model(cuda, shape, 1)) {
            cuda.synchronize();
            System.out.printf(Locale.ROOT, "setup_s,%.1f%n", (System.nanoTime() - t0) / 1e9);
            System.out.println("backend," + cuda.name());
            int[] prompt = {11, 22, 33, 44, 55, 66, 77, 88};
            Generator opByOp = generator(m, "false", "fused"), unfused = generator(m, "true", "auto"), graph = generator(m, "true", "fused");
            try (opByOp; unfused; graph) {
                long g0 = System.nanoTime();
                int[] warmGraph = graph.generate(prompt, 32, SamplingOptions.greedy(), null);     // capture, kernels, pools
                System.out.printf(Locale.ROOT, "graph_warmup_s,%.2f%n", (System.nanoTime() - g0) / 1e9);
                int[] warmOps = opByOp.generate(prompt, 32, SamplingOptions.greedy(), null);
                System.out.println("graph_step," + graph.stepMode().replace(',', ';'));
                System.out.println("graph_unfused_step," + unfused.stepMode().replace(',', ';'));
                int same = 0;
                while (same < warmOps.length && warmOps[same] == warmGraph[same]) same++;
                System.out.printf(Locale.ROOT, "greedy_tokens_equal_graph_vs_op_by_op,%d/%d%n", same, warmOps.length);
                for (int run = 0; run < 3; run++) {
                    measure(opByOp, prompt, tokens, preset + "_batch1_op_by_op_run" + run);
                    measure(unfused, prompt, tokens, preset + "_batch1_graph_unfused_run" + run);
                    measure(graph, prompt, tokens, preset + "_batch1_graph_run" + run);
                }
            }
            try (BatchGenerator b = new BatchGenerator(m)) {
                for (int i = 0; i < batch; i++) b.join(new int[] {1 + i, 2 + i, 3 + i}, tokens, SamplingOptions.greedy());
                b.step();
                long start = System.nanoTime();
                int steps = 0;
                while (!b.step().isEmpty()) steps++;
                double s = (System.nanoTime() - start) / 1e9;
                System.out.printf(Locale.ROOT, "%s_batch%d_op_by_op_decode_tokens_per_s,%.1f%n", preset, batch, steps * batch / s);
            }
            gpuTimes(m, 200);         // last: its opt-in settings have not run on a GPU before
        }
    }

    /**
     * GPU µs per step of the GPU work alone (graph replays back to back, no host copy or wait between them) at
     * KV length {@code position} + 1, beside a whole step (copies, waits), for the default fused step, the
     * unfused one, and the fused one with the opt-in programmatic dependent launch and split attention.
     */
    private static void gpuTimes(LlamaModel m, int position) {
        // {products, PDL, split attention}: the default first, then each opt-in alone, then both.
        String[][] settings = {{"fused", "false", "false"}, {"auto", "false", "false"}, {"fused", "false", "true"},
                {"fused", "true", "false"}, {"fused", "true", "true"}};
        try (tern.model.PreparedWeights w = tern.model.PreparedWeights.of(m)) {
            LlamaConfig c = m.config();
            tern.runtime.Tensor[][] keys = new tern.runtime.Tensor[1][c.layers()], values = new tern.runtime.Tensor[1][c.layers()];
            for (int l = 0; l < c.layers(); l++) {
                keys[0][l] = m.backend().zeros(tern.runtime.DType.F32, position + 1, c.hidden());
                values[0][l] = m.backend().zeros(tern.runtime.DType.F32, position + 1, c.hidden());
            }
            for (String[] s : settings) {
                String before = System.getProperty("tern.cuda.decodeProducts"), beforePdl = System.getProperty("tern.cuda.pdl");
                String beforeSplit = System.getProperty("tern.cuda.attentionSplit");
                System.setProperty("tern.cuda.decodeProducts", s[0]);
                System.setProperty("tern.cuda.pdl", s[1]);
                System.setProperty("tern.cuda.attentionSplit", s[2]);
                try (CudaGraphDecodeStep step = new CudaGraphDecodeStep(m, w.packed(), 1, true)) {
                    step.step(new int[] {5}, new int[] {position}, keys, values);
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 20; i++) step.step(new int[] {5}, new int[] {position}, keys, values);
                    double whole = (System.nanoTime() - t0) / 1e3 / 20;
                    double gpu = Math.min(step.gpuMicrosPerStep(20), step.gpuMicrosPerStep(20));
                    String name = "gpu_step_" + s[0] + (s[1].equals("true") ? "_pdl" : "") + (s[2].equals("true") ? "_split_attention" : "")
                            + "_kv" + (position + 1);
                    System.out.printf(Locale.ROOT, "%s_us,%.1f%n", name, gpu);
                    System.out.printf(Locale.ROOT, "%s_whole_step_us,%.1f%n", name, whole);
                    System.out.println(name + "_mode," + step.describe().replace(',', ';'));
                } finally {
                    restore("tern.cuda.decodeProducts", before);
                    restore("tern.cuda.pdl", beforePdl);
                    restore("tern.cuda.attentionSplit", beforeSplit);
                }
            }
            for (int l = 0; l < c.layers(); l++) { keys[0][l].close(); values[0][l].close(); }
        }
    }

    private static Generator generator(LlamaModel m, String graphSetting, String products) {
        String before = System.getProperty("tern.cuda.graph"), beforeProducts = System.getProperty("tern.cuda.decodeProducts");
        System.setProperty("tern.cuda.graph", graphSetting);
        System.setProperty("tern.cuda.decodeProducts", products);
        try {
            Generator g = new Generator(m);
            g.generate(new int[] {1}, 1, SamplingOptions.greedy(), null);     // makes (or not) the graph step now
            return g;
        } finally {
            restore("tern.cuda.graph", before);
            restore("tern.cuda.decodeProducts", beforeProducts);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
    }

    private static void measure(Generator g, int[] prompt, int tokens, String name) {
        long[] first = {0};
        long start = System.nanoTime();
        int[] out = g.generate(prompt, tokens, SamplingOptions.greedy(), t -> { if (first[0] == 0) first[0] = System.nanoTime(); });
        long end = System.nanoTime();
        System.out.printf(Locale.ROOT, "%s_first_token_ms,%.2f%n", name, (first[0] - start) / 1e6);
        System.out.printf(Locale.ROOT, "%s_decode_tokens_per_s,%.1f%n", name, (out.length - 1) / ((end - first[0]) / 1e9));
    }
}
