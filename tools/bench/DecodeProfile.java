import java.nio.file.Path;
import java.util.Locale;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.CpuBackend;
import tern.simd.OpClock;
import tern.simd.PackedMatmul;

/**
 * Where a decode token's time goes in `tern generate --model`: the same load and generation (greedy, int8 activations
 * unless told otherwise), with the CPU backend's op clock on (-Dtern.profile=true, tern.simd.OpClock), split per token
 * into the packed ternary products, the f16 LM head, attention, RMSNorm, the backend's other ops (RoPE, SwiGLU,
 * residual adds, cache copies, embedding) and the rest (tape, sampling, allocation: the step's wall time minus the
 * ops'). Two breakdowns inside those are printed beside them, not added: packed_setup (the one-row int8 product's
 * serial set-up on the calling thread) and shared_wait (the caller waiting for pieces its helper thread took). Each round is one generation of TOKENS tokens in this process, timed from its first generated token (the
 * prompt and the first token excluded); round 1 is the cold process's (the JIT still compiling), later rounds steady.
 *
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xms32m -Xmx512m \
 *       -Dtern.profile=true -cp target/classes tools/bench/DecodeProfile.java MODEL.tern [TOKENS=512] [ROUNDS=2] [int8|float]
 */
public class DecodeProfile {
    public static void main(String[] a) throws Exception {
        if (!OpClock.ON) throw new IllegalStateException("run with -Dtern.profile=true (the backend's op clock is off)");
        Path file = Path.of(a[0]);
        int tokens = a.length > 1 ? Integer.parseInt(a[1]) : 512, rounds = a.length > 2 ? Integer.parseInt(a[2]) : 2;
        PackedMatmul.Activations act = a.length > 3 && a[3].equals("float") ? PackedMatmul.Activations.FLOAT : PackedMatmul.Activations.INT8;
        long t0 = System.nanoTime();
        try (CpuBackend backend = new CpuBackend(); TernModel m = TernModel.load(file, backend, act)) {
            System.out.printf(Locale.ROOT, "%s: loaded in %.2f s, %s activations, %d threads, %s%n", file, (System.nanoTime() - t0) / 1e9,
                    act.name().toLowerCase(Locale.ROOT), tern.simd.Parallel.THREADS, PackedMatmul.path());
            int[] prompt = m.tokenizer().encode("Once upon a time");
            for (int r = 1; r <= rounds; r++) {
                long[] first = {0, 0};
                int[] count = {0};
                OpClock.reset();
                long start = System.nanoTime();
                m.model().generate(prompt, tokens, SamplingOptions.greedy(), token -> {
                    if (count[0]++ == 0) {
                        first[0] = System.nanoTime();
                        OpClock.reset();   // the prompt's steps and the first token are not decode
                    }
                    first[1] = System.nanoTime();
                });
                int steps = count[0] - 1;
                double wall = (first[1] - first[0]) / 1e6 / steps, ops = 0;
                StringBuilder split = new StringBuilder();
                for (OpClock.Kind k : OpClock.Kind.values()) {
                    double ms = OpClock.nanos(k) / 1e6 / steps;
                    if (!k.nested()) ops += ms;
                    split.append(String.format(Locale.ROOT, " | %s %.2f (%d calls)", k.name().toLowerCase(Locale.ROOT), ms, OpClock.calls(k) / steps));
                }
                System.out.printf(Locale.ROOT, "round %d: %d tokens, first after %.3f s; then %.2f ms/token (%.1f tokens/s):%s | rest %.2f ms/token%n",
                        r, count[0], (first[0] - start) / 1e9, wall, 1e3 / wall, split, wall - ops);
            }
        }
    }
}
