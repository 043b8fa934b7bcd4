package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import tern.checkpoint.Json;
import tern.model.InferenceModel;
import tern.model.SamplingOptions;
import tern.simd.KernelProvider;
import tern.simd.PackedMatmul;
import tern.simd.Parallel;
import tern.simd.Vectorization;

/**
 * {@code tern bench prefill --model FILE [--tokens 128,512] [--activations int8|float] [--runs N] [--warmup-s S] [--json]}:
 * prompt processing of a packed model, the figure llama-bench calls pp N: a prompt of N random token ids
 * (seeded) through the whole model into a KV cache, and the logits of its last position. Each length is
 * timed {@code runs} times after an untimed warm-up of at least {@code warmup-s} seconds (so the JIT has
 * compiled the kernels, as llama-bench's own warm-up run warms its caches); the median and the best are
 * printed, as tokens per second.
 */
final class BenchPrefill {
    private BenchPrefill() {}

    static final String USAGE = """
            usage: tern bench prefill --model FILE [--tokens 128,512] [--activations int8|float] [--runs N] [--warmup-s S] [--json]
              --model FILE     a packed model (tern pack)
              --tokens LIST    prompt lengths, comma-separated (each ≥ 1, within the context)          [128,512]
              --activations A  int8 (absmax int8 activations, integer sums, as llama.cpp's TQ2_0 does) or float   [int8]
              --runs N         timed prompts per length (≥ 1)                                            [5]
              --warmup-s S     untimed prompts first, for at least this many seconds                    [5]
              --json           print JSON only
            Prompt tokens per second (median and best of the runs), measured in this process.""";

    static int run(String[] argv) throws Exception {
        if (Arrays.asList(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("bench prefill", argv, Set.of("model", "tokens", "activations", "runs", "warmup-s"), Set.of("json"));
        Path file = Path.of(args.required("model"));
        if (!Files.isRegularFile(file)) throw new UsageException("--model " + file + ": no such file");
        int[] lengths;
        try {
            lengths = Arrays.stream(args.string("tokens", "128,512").split(",")).map(String::strip).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new UsageException("--tokens needs comma-separated whole numbers, got '" + args.string("tokens", "") + "'");
        }
        int runs = args.intValue("runs", 5);
        double warmup = args.doubleValue("warmup-s", 5);
        if (runs < 1) throw new UsageException("--runs must be ≥ 1, got " + runs);
        if (!(warmup >= 0)) throw new UsageException("--warmup-s must be ≥ 0, got " + warmup);
        PackedMatmul.Activations activations = switch (args.string("activations", "int8")) {
            case "int8" -> PackedMatmul.Activations.INT8;
            case "float" -> PackedMatmul.Activations.FLOAT;
            default -> throw new UsageException("--activations must be int8 or float, got '" + args.string("activations", "") + "'");
        };
        boolean json = args.has("json");
        Map<String, Object> out = new LinkedHashMap<>();
        try (InferenceModel m = InferenceModel.load(file)) {
            m.setActivations(activations);
            int context = m.config().contextLength(), vocab = m.config().vocabSize();
            for (int n : lengths)
                if (n < 1 || n + 1 > context) throw new UsageException("--tokens " + n + ": a prompt needs 1 to " + (context - 1) + " tokens for this model");
            SplittableRandom rnd = new SplittableRandom(1);
            int[][] prompts = new int[lengths.length][];
            for (int i = 0; i < lengths.length; i++) prompts[i] = rnd.ints(lengths[i], 0, vocab).toArray();
            long end = System.nanoTime() + (long) (warmup * 1e9);
            int warm = 0;
            do {
                for (int[] p : prompts) m.generate(p, 1, SamplingOptions.greedy(), null);
                warm++;
            } while (System.nanoTime() < end);
            out.put("model", file.toString());
            // As every bench: the width and each kernel family's kernels, then the packed path the prompt ran.
            out.put("simd", Vectorization.describe());
            out.put("kernel_set", KernelProvider.preferred().describe());
            out.put("kernels", PackedMatmul.path());
            if (!json) System.out.println("vectors: " + Vectorization.describe() + "\nkernels: " + KernelProvider.preferred().describe());
            out.put("threads", Parallel.THREADS);
            out.put("activations", activations.name().toLowerCase(Locale.ROOT));
            out.put("warmup_rounds", warm);
            for (int i = 0; i < lengths.length; i++) {
                double[] s = new double[runs];
                for (int r = 0; r < runs; r++) {
                    long t0 = System.nanoTime();
                    m.generate(prompts[i], 1, SamplingOptions.greedy(), null);
                    s[r] = (System.nanoTime() - t0) / 1e9;
                }
                Arrays.sort(s);
                double median = s[runs / 2], best = s[0];
                out.put("pp" + lengths[i] + "_tokens_per_s", lengths[i] / median);
                out.put("pp" + lengths[i] + "_best_tokens_per_s", lengths[i] / best);
                if (!json)
                    System.out.printf(Locale.ROOT, "pp%d: %.1f tokens/s median (best %.1f) of %d runs, %s activations, %s kernels, %d threads%n",
                            lengths[i], lengths[i] / median, lengths[i] / best, runs, out.get("activations"), out.get("kernels"), Parallel.THREADS);
            }
        }
        if (json) System.out.println(Json.write(out));
        return 0;
    }
}
