import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import tern.runtime.DType;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

/**
 * Decode attention alone, as one token of `tern generate --model` runs it: one query row against every layer's own
 * cache (separate K and V tensors per layer, so the caches come from memory as in the model, not from L1), at the
 * 390M shape (16 heads × 64, 24 layers) unless told otherwise. Prints the median and best time of one token's
 * attention (all layers) per cache length. Runs on whatever classes are first on the class path, so the same file
 * times a base tree and a branch:
 *
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/classes \
 *       tools/bench/DecodeAttentionTimer.java [LENGTHS=64,256,512] [SECONDS=3] [HEADS=16] [HEAD_DIM=64] [LAYERS=24]
 */
public class DecodeAttentionTimer {
    public static void main(String[] a) {
        int[] lengths = Arrays.stream((a.length > 0 ? a[0] : "64,256,512").split(",")).mapToInt(Integer::parseInt).toArray();
        double seconds = a.length > 1 ? Double.parseDouble(a[1]) : 3;
        int heads = a.length > 2 ? Integer.parseInt(a[2]) : 16, headDim = a.length > 3 ? Integer.parseInt(a[3]) : 64;
        int layers = a.length > 4 ? Integer.parseInt(a[4]) : 24, width = heads * headDim;
        CpuBackend be = new CpuBackend();
        Random rnd = new Random(1);
        for (int len : lengths) {
            Tensor[] ks = new Tensor[layers], vs = new Tensor[layers];
            for (int l = 0; l < layers; l++) {
                ks[l] = Tensor.of(gaussian(rnd, len * width), len, width);
                vs[l] = Tensor.of(gaussian(rnd, len * width), len, width);
            }
            Tensor q = Tensor.of(gaussian(rnd, width), 1, width), out = Tensor.zeros(DType.F32, 1, width);
            Tensor lse = Tensor.zeros(DType.F32, 1, heads, 1);
            double[] times = new double[4096];
            int runs = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9), warm = System.nanoTime() + (long) (seconds * 0.4e9);
            while (System.nanoTime() < end && runs < times.length) {
                long t0 = System.nanoTime();
                for (int l = 0; l < layers; l++) be.attention(q, ks[l], vs[l], 1, 1, len, heads, headDim, out, lse);
                long t1 = System.nanoTime();
                if (t0 > warm) times[runs++] = (t1 - t0) / 1e3;
            }
            double[] t = Arrays.copyOf(times, runs);
            Arrays.sort(t);
            System.out.printf(Locale.ROOT, "attention, 1 query, %d keys, %d heads × %d, %d layers: median %.1f µs, best %.1f µs per token (%d runs, out[0] %s)%n",
                    len, heads, headDim, layers, t[runs / 2], t[0], runs, Float.toHexString(out.toFloatArray()[0]));
            for (int l = 0; l < layers; l++) {
                ks[l].close();
                vs[l].close();
            }
            q.close();
            out.close();
            lse.close();
        }
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }
}
