import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.CpuBackend;
import tern.simd.PackedMatmul;

/**
 * When each token of a fresh process comes (issue 15's cold start): loads a packed model as `tern generate --model`
 * does (int8 activations), generates N tokens greedily from "Once upon a time" through the same
 * InferenceModel.generate, and prints, per token, index:milliseconds since the previous token@milliseconds since the
 * JVM started; with -XX:+PrintCompilation or -XX:+CITime beside it, which kernels were compiled before which token.
 *
 * Compiled first, since the source launcher's own compile would run inside the measured JVM (≈ 1 s, and JIT work):
 *
 *   javac --add-modules jdk.incubator.vector -cp target/tern.jar -d /tmp/tt tools/bench/TokenTimes.java
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xms32m -Xmx512m \
 *       -cp target/tern.jar:/tmp/tt TokenTimes MODEL.tern N
 */
public class TokenTimes {
    public static void main(String[] a) throws Exception {
        long jvm0 = ManagementFactory.getRuntimeMXBean().getStartTime();
        long t0 = System.currentTimeMillis();
        System.err.printf("main at %d ms%n", t0 - jvm0);
        CpuBackend b = new CpuBackend();
        try (TernModel m = TernModel.load(Path.of(a[0]), b, PackedMatmul.Activations.INT8)) {
            System.err.printf("loaded at %d ms%n", System.currentTimeMillis() - jvm0);
            StringBuilder sb = new StringBuilder();
            long[] last = {System.nanoTime()};
            int[] n = {0};
            int[] ids = m.tokenizer().encode("Once upon a time");
            m.model().generate(ids, Integer.parseInt(a[1]), SamplingOptions.greedy(), t -> {
                long now = System.nanoTime();
                sb.append(String.format("%d:%d@%d ", n[0]++, (now - last[0]) / 1000000, System.currentTimeMillis() - jvm0));
                last[0] = now;
            });
            System.err.println(sb);
            System.err.printf("done at %d ms%n", System.currentTimeMillis() - jvm0);
        }
    }
}
