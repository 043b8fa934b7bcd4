import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

import tern.runtime.ShardAxis;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;

/**
 * A batched decode step's products alone, for issue 15's multi-row kernels: the 390M TriLM's four int8 products of
 * one layer as the model calls them (q/k/v fused 3×1024×1024, o 1024×1024, gate/up fused 2×2560×1024, down
 * 1024×2560; random codes) and its f16 LM head (8192×1024), for each row count m given; per m the median
 * of {@code reps} layer calls (and of the head) after a warm-up, in µs and µs per row. Compare
 * {@code -Dtern.packed.rows8=false} (rows four at a time) against the default in alternating processes.
 *
 *   java --add-modules jdk.incubator.vector -cp target/classes tools/bench/PackedRowsTimer.java REPS M[,M...] [HEAD_ROWS]
 */
public final class PackedRowsTimer {
    public static void main(String[] a) {
        int reps = Integer.parseInt(a[0]);
        int[] ms = Arrays.stream(a[1].split(",")).mapToInt(Integer::parseInt).toArray();
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary[] qkv = {matrix(arena, rnd, 1024, 1024), matrix(arena, rnd, 1024, 1024), matrix(arena, rnd, 1024, 1024)};
            PackedTernary[] o = {matrix(arena, rnd, 1024, 1024)};
            PackedTernary[] gateUp = {matrix(arena, rnd, 2560, 1024), matrix(arena, rnd, 2560, 1024)};
            PackedTernary[] down = {matrix(arena, rnd, 1024, 2560)};
            int vocab = a.length > 2 ? Integer.parseInt(a[2]) : 8192, hidden = 1024;
            MemorySegment head = arena.allocate(2L * vocab * hidden, 64);
            for (long i = 0; i < (long) vocab * hidden; i++)
                head.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2 * i, Float.floatToFloat16((float) rnd.nextGaussian()));
            for (int m : ms) {
                float[] x1024 = gaussian(rnd, m * 1024), x2560 = gaussian(rnd, m * 2560);
                float[][] yqkv = {new float[m * 1024], new float[m * 1024], new float[m * 1024]}, yo = {new float[m * 1024]};
                float[][] ygu = {new float[m * 2560], new float[m * 2560]}, yd = {new float[m * 1024]};
                float[] logits = new float[m * vocab];
                Runnable layer = () -> {
                    PackedMatmul.matmul(qkv, x1024, m, yqkv, PackedMatmul.Activations.INT8);
                    PackedMatmul.matmul(o, x1024, m, yo, PackedMatmul.Activations.INT8);
                    PackedMatmul.matmul(gateUp, x1024, m, ygu, PackedMatmul.Activations.INT8);
                    PackedMatmul.matmul(down, x2560, m, yd, PackedMatmul.Activations.INT8);
                };
                Runnable lmHead = () -> PackedFloatMatvec.matmul(head, PackedFloatMatvec.Format.F16, vocab, hidden, x1024, m, logits);
                double l = median(layer, reps), h = median(lmHead, reps);
                System.out.printf("m=%d  layer %.1f µs (%.1f per row)  head %.1f µs (%.1f per row)%n", m, l, l / m, h, h / m);
            }
        }
    }

    static PackedTernary matrix(Arena arena, SplittableRandom rnd, int rows, int cols) {
        byte[] t = new byte[rows * cols];
        for (int i = 0; i < t.length; i++) t[i] = (byte) (rnd.nextInt(3) - 1);
        MemorySegment codes = arena.allocate(PackedTernary.bytes(rows, cols, 1, ShardAxis.ROWS), 64);
        return PackedTernary.pack(t, rows, cols, new float[] {0.5f}, ShardAxis.ROWS, codes);
    }

    static float[] gaussian(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /** Median wall time of reps calls in µs, after 2 s of warm-up calls (C2 compiles the kernels). */
    static double median(Runnable call, int reps) {
        for (long end = System.nanoTime() + 2_000_000_000L; System.nanoTime() < end; ) call.run();
        long[] t = new long[reps];
        for (int i = 0; i < reps; i++) {
            long s = System.nanoTime();
            call.run();
            t[i] = System.nanoTime() - s;
        }
        Arrays.sort(t);
        return t[reps / 2] / 1e3;
    }
}
