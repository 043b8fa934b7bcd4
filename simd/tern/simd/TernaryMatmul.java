package tern.simd;

import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Absmean ternary quantization and the ternary matrix products of the CPU backend.
 *
 * <p>Packed layout (bitplanes): the packed tensor is {@link DType#I8} of shape [rows, 16·words] with
 * words = ceil(cols / 64). Row r holds, for each word w, two little-endian 64-bit masks: bytes
 * [16w, 16w+8) are the plus-mask (bit j set ⇔ T[r][64w+j] = +1) and bytes [16w+8, 16w+16) the minus-mask
 * (bit j set ⇔ T[r][64w+j] = −1). Bits past cols are zero.
 */
public final class TernaryMatmul {
    private TernaryMatmul() {}

    public static final int WORD_BITS = 64;
    public static final int WORD_BYTES = 16;

    public static int words(int cols) { return (cols + WORD_BITS - 1) / WORD_BITS; }

    public static TernaryWeights pack(Tensor w, int shards, ShardAxis axis, float eps) {
        float[] g = scales(w, shards, axis, eps);
        int rows = w.rows(), cols = w.cols(), words = words(cols);
        Tensor packed = Tensor.zeros(DType.I8, rows, words * WORD_BYTES);
        MemorySegment src = w.segment(), dst = packed.segment();
        for (int r = 0; r < rows; r++)
            for (int wd = 0; wd < words; wd++) {
                long plus = 0, minus = 0;
                for (int j = 0; j < WORD_BITS && wd * WORD_BITS + j < cols; j++) {
                    int c = wd * WORD_BITS + j;
                    float gamma = g[shardOf(axis == ShardAxis.ROWS ? r : c, axis == ShardAxis.ROWS ? rows : cols, shards)];
                    float t = ternary(src.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * cols + c), gamma);
                    if (t > 0) plus |= 1L << j;
                    else if (t < 0) minus |= 1L << j;
                }
                long off = (long) r * words * WORD_BYTES + (long) wd * WORD_BYTES;
                dst.set(ValueLayout.JAVA_LONG_UNALIGNED, off, plus);
                dst.set(ValueLayout.JAVA_LONG_UNALIGNED, off + 8, minus);
            }
        return new TernaryWeights(packed, rows, cols, g, axis);
    }

    /** T = clamp(rint(w/γ), −1, 1), rint rounding half to even. */
    static float ternary(float w, float gamma) {
        return Math.max(-1f, Math.min(1f, (float) Math.rint(w / gamma)));
    }

    static int shardOf(int index, int extent, int shards) {
        return (int) ((long) index * shards / extent);
    }

    public static float[] scales(Tensor w, int shards, ShardAxis axis, float eps) {
        int rows = w.rows(), cols = w.cols();
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        if (shards < 1 || shards > Math.max(1, extent))
            throw new IllegalArgumentException(shards + " shards along " + axis + " of " + w.describe());
        double[] sum = new double[shards];
        long[] count = new long[shards];
        MemorySegment src = w.segment();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int s = shardOf(axis == ShardAxis.ROWS ? r : c, extent, shards);
                sum[s] += Math.abs(src.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * cols + c));
                count[s]++;
            }
        float[] g = new float[shards];
        for (int s = 0; s < shards; s++) g[s] = eps + (float) (count[s] == 0 ? 0 : sum[s] / count[s]);
        return g;
    }

    static int code(MemorySegment packed, int words, int r, int c) {
        long off = (long) r * words * WORD_BYTES + (long) (c / WORD_BITS) * WORD_BYTES;
        long bit = 1L << (c % WORD_BITS);
        if ((packed.get(ValueLayout.JAVA_LONG_UNALIGNED, off) & bit) != 0) return 1;
        if ((packed.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 8) & bit) != 0) return -1;
        return 0;
    }

    public static void unpack(TernaryWeights w, Tensor out) {
        int rows = w.rows(), cols = w.cols(), words = words(cols);
        MemorySegment p = w.packed().segment(), o = out.segment();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                o.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * cols + c,
                        code(p, words, r, c) * w.scales()[w.shardOf(w.axis() == ShardAxis.ROWS ? r : c)]);
    }

    public static void forward(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        int m = x.rows(), in = w.cols(), out = w.rows(), words = words(in);
        MemorySegment p = w.packed().segment(), xs = x.segment(), ys = y.segment();
        for (int i = 0; i < m; i++)
            for (int o = 0; o < out; o++) {
                float total = 0;
                for (int s = 0; s < (w.axis() == ShardAxis.COLS ? w.shards() : 1); s++) {
                    float acc = 0;
                    for (int c = 0; c < in; c++) {
                        if (w.axis() == ShardAxis.COLS && w.shardOf(c) != s) continue;
                        int t = code(p, words, o, c);
                        float xv = xs.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * in + c);
                        if (t > 0) acc += xv; else if (t < 0) acc -= xv;
                    }
                    total += acc * w.scales()[w.axis() == ShardAxis.COLS ? s : w.shardOf(o)];
                }
                long yi = (long) i * out + o;
                ys.setAtIndex(ValueLayout.JAVA_FLOAT, yi, accumulate ? ys.getAtIndex(ValueLayout.JAVA_FLOAT, yi) + total : total);
            }
    }

    public static void backward(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        int m = dy.rows(), in = w.cols(), out = w.rows(), words = words(in);
        MemorySegment p = w.packed().segment(), ds = dy.segment(), xs = dx.segment();
        for (int i = 0; i < m; i++)
            for (int c = 0; c < in; c++) {
                float total = 0;
                for (int o = 0; o < out; o++) {
                    int t = code(p, words, o, c);
                    float d = ds.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * out + o)
                            * w.scales()[w.shardOf(w.axis() == ShardAxis.ROWS ? o : c)];
                    if (t > 0) total += d; else if (t < 0) total -= d;
                }
                long xi = (long) i * in + c;
                xs.setAtIndex(ValueLayout.JAVA_FLOAT, xi, accumulate ? xs.getAtIndex(ValueLayout.JAVA_FLOAT, xi) + total : total);
            }
    }
}
