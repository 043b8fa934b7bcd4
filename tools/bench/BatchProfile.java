import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.OpClock;
import tern.simd.PackedMatmul;

/**
 * Where a batched decode step's time goes (issue 15's 8 clients against 1): N prompts through
 * {@code TernModel.generateAll} (one batched step per token, as {@code tern serve} runs them), greedy, 64 tokens,
 * int8 activations, four rounds; per round the op kinds of {@link OpClock} in ms per step.
 *
 *   java --add-modules jdk.incubator.vector -Dtern.profile=true -cp target/classes tools/bench/BatchProfile.java MODEL.tern N
 */
public class BatchProfile {
    public static void main(String[] a) throws Exception {
        int n = Integer.parseInt(a[1]), tokens = 64;
        try (TernModel m = TernModel.load(Path.of(a[0]), new tern.simd.CpuBackend(), PackedMatmul.Activations.INT8)) {
            List<String> prompts = new ArrayList<>();
            for (int i = 0; i < n; i++) prompts.add("Once upon a time " + i);
            for (int round = 0; round < 4; round++) {
                OpClock.reset();
                long t0 = System.nanoTime();
                m.generateAll(prompts, SamplingOptions.greedy(), tokens);
                double s = (System.nanoTime() - t0) / 1e9;
                StringBuilder b = new StringBuilder(String.format("n=%d round %d: %.2f s, %.1f tok/s |", n, round, s, n * tokens / s));
                for (OpClock.Kind k : OpClock.Kind.values()) b.append(String.format(" %s %.2f ms/step", k, OpClock.nanos(k) / 1e6 / tokens));
                System.out.println(b);
            }
        }
    }
}
