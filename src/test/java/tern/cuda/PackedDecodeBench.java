package tern.cuda;

import java.util.Locale;

import tern.model.BatchGenerator;
import tern.model.Generator;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.RandomServedWeights;
import tern.model.SamplingOptions;

/**
 * Packed decode on the GPU at a preset's shape with random ternary weights (no file: RandomServedWeights),
 * the one model's decode step through the CUDA backend's packed GEMV: batch 1 greedy tokens/s, then a
 * batched step (B sequences) tokens/s. Run by tools/gpu/packed-decode.sh:
 * {@code PackedDecodeBench [preset=3.9B] [tokens=256] [batch=8]}. Prints one "name,value" line per figure.
 */
public final class PackedDecodeBench {
    private PackedDecodeBench() {}

    public static void main(String[] args) {
        String preset = args.length > 0 ? args[0] : "3.9B";
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        CudaBackend cuda = new CudaBackend();
        LlamaConfig shape = LlamaConfig.preset(preset);
        long t0 = System.nanoTime();
        try (LlamaModel m = RandomServedWeights.model(cuda, shape, 1, false)) {
            System.out.printf(Locale.ROOT, "setup_s,%.1f%n", (System.nanoTime() - t0) / 1e9);
            int[] prompt = {11, 22, 33, 44, 55, 66, 77, 88};
            try (Generator g = new Generator(m)) {
                g.generate(prompt, 32, SamplingOptions.greedy(), null);               // warm-up: kernels, pools
                for (int run = 0; run < 3; run++) {
                    long[] first = {0};
                    long start = System.nanoTime();
                    int[] out = g.generate(prompt, tokens, SamplingOptions.greedy(), t -> { if (first[0] == 0) first[0] = System.nanoTime(); });
                    long end = System.nanoTime();
                    System.out.printf(Locale.ROOT, "%s_batch1_run%d_prefill8_ms,%.2f%n", preset, run, (first[0] - start) / 1e6);
                    System.out.printf(Locale.ROOT, "%s_batch1_run%d_decode_tokens_per_s,%.1f%n", preset, run, (out.length - 1) / ((end - first[0]) / 1e9));
                }
            }
            try (BatchGenerator b = new BatchGenerator(m)) {
                for (int i = 0; i < batch; i++) b.join(new int[] {1 + i, 2 + i, 3 + i}, tokens, SamplingOptions.greedy());
                b.step();
                long start = System.nanoTime();
                int steps = 0;
                while (!b.step().isEmpty()) steps++;
                double s = (System.nanoTime() - start) / 1e9;
                System.out.printf(Locale.ROOT, "%s_batch%d_decode_tokens_per_s,%.1f%n", preset, batch, steps * batch / s);
            }
        }
    }
}
