package tern.serve;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import tern.model.BatchGenerator;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.CpuBackend;
import tern.simd.PackedMatmul;

/**
 * A batched decode step without HTTP (not a test): B sequences of a packed model joined with short prompts,
 * then stepped; prints the median step time for each B given, so the server's cost beside the model shows
 * apart from the model's own.
 *
 * <pre>java ... tern.serve.BatchStepBench FILE.tern [int8|float] [B,B,...] [steps]</pre>
 */
public final class BatchStepBench {
    private BatchStepBench() {}

    public static void main(String[] argv) throws Exception {
        Path file = Path.of(argv[0]);
        PackedMatmul.Activations act = PackedMatmul.Activations.valueOf((argv.length > 1 ? argv[1] : "int8").toUpperCase(Locale.ROOT));
        int[] batches = Arrays.stream((argv.length > 2 ? argv[2] : "1,8").split(",")).mapToInt(Integer::parseInt).toArray();
        int steps = argv.length > 3 ? Integer.parseInt(argv[3]) : 40;
        try (TernModel m = TernModel.load(file, new CpuBackend())) {
            m.model().setActivations(act);
            for (int pass = 0; pass < 2; pass++) {
                for (int b : batches) {
                    try (BatchGenerator g = m.batch()) {
                        List<BatchGenerator.Sequence> seqs = new ArrayList<>();
                        for (int i = 0; i < b; i++) seqs.add(g.join(new int[]{1 + i, 5, 9, 13, 17, 21}, steps + 1, SamplingOptions.greedy()));
                        double[] ms = new double[steps];
                        for (int s = 0; s < steps; s++) {
                            long t0 = System.nanoTime();
                            g.step();
                            ms[s] = (System.nanoTime() - t0) / 1e6;
                        }
                        Arrays.sort(ms);
                        System.out.printf(Locale.ROOT, "pass %d, B=%d: step median %.2f ms (min %.2f), %.1f tok/s%n",
                                pass, b, ms[steps / 2], ms[0], b * 1000 / ms[steps / 2]);
                    }
                }
            }
        }
    }
}
