package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import tern.model.InferenceModel;
import tern.model.KernelWarmup;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.Precision;
import tern.model.SamplingOptions;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;

/**
 * {@code tern warmup}: runs the inference path once on micro models (a packed file written, loaded and
 * decoded; the kernels with f16 and f32 heads, float and int8 activations): a training run for the JDK's
 * ahead-of-time cache ({@code java -XX:AOTCacheOutput=FILE ... tern.cli.Main warmup}, then
 * {@code -XX:AOTCache=FILE}). JDK 25's cache holds classes and profiles, not compiled code; measured on a 390M
 * it did not shorten the first tokens (BENCHMARKS.md), so the launcher does not make one.
 */
final class WarmupCommand {
    private WarmupCommand() {}

    static final String USAGE = """
            usage: tern warmup
              Runs the inference kernels on micro models and exits: a training run for a JDK AOT cache
              (java -XX:AOTCacheOutput=FILE ... tern.cli.Main warmup; later runs -XX:AOTCache=FILE).""";

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args.parse("warmup", argv, java.util.Set.of(), java.util.Set.of());
        long t0 = System.nanoTime();
        Path tmp = Files.createTempFile("tern-warmup", ".tern");
        try {
            LlamaConfig tiny = LlamaConfig.preset("tiny").withPrecision(Precision.of(new LinearPolicy.Ternary(1)));
            try (LlamaModel m = new LlamaModel(new CpuBackend(), tiny)) {
                m.initialize(1);
                PackedModelWriter.write(m, null, PackedFloatMatvec.Format.F16, tmp);
            }
            try (InferenceModel im = InferenceModel.load(tmp)) {
                im.generate(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, 32, SamplingOptions.greedy(), null);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        double kernels = 0;
        for (PackedMatmul.Activations a : PackedMatmul.Activations.values())
            for (boolean f16 : new boolean[] {true, false}) {
                CpuBackend like = new CpuBackend();
                like.setPackedActivations(a);
                kernels += KernelWarmup.run(like, f16);
            }
        System.err.printf(Locale.ROOT, "warm-up: %.2f s (kernels %.2f s)%n", (System.nanoTime() - t0) / 1e9, kernels);
        return 0;
    }
}
