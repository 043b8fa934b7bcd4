package tern.simd;

/**
 * The int8 product of {@link PackedMatmul} on {@link PackedTwoBit}'s kernels: activations quantized as
 * every int8 path quantizes them, laid out per column block of the q2 copy ({@link PackedTwoBitLayout}:
 * each segment's columns padded with zeros to whole blocks), with per-row prefix sums over blocks for the
 * runs' Σx; tiles claimed in pieces as {@link PackedMatmul} claims them. Several rows: per tile and run of
 * {@link PackedTwoBit#RUN} blocks (4 KiB of codes, reused from L1), rows four at a time
 * ({@link PackedTwoBit#int8Rows4}), the rest one at a time. The sums are exact integers, so any grouping
 * of rows gives the same bits, and the scaling is the one every int8 path applies: acc·(s_row·γ).
 */
final class PackedTwoBitMatmul {
    private static final long MIN_BYTES_PER_PIECE = 1 << 14;
    private static final int PIECES_PER_THREAD = 8, T = PackedTernary.TILE, ROWS = 4, BLOCK = PackedTwoBitLayout.BLOCK;

    private PackedTwoBitMatmul() {}

    static void int8(PackedKernels k, PackedTernary[] ws, int[] firstTile, float[] x, int m, float[][] ys) {
        PackedTwoBitLayout[] ls = new PackedTwoBitLayout[ws.length];
        for (int i = 0; i < ws.length; i++) ls[i] = PackedTwoBitLayout.of(ws[i]);
        PackedTernary w = ws[0];
        int[] bs = ls[0].blockStart, seg = w.segStart();
        int in = w.cols(), blocks = bs[bs.length - 1], pad = BLOCK * blocks;
        float[] rowScale = new float[m];
        short[] xs = new short[m * pad];
        int[] pre = new int[m * (blocks + 1)];
        byte[] row = new byte[in];
        for (int r = 0; r < m; r++) {
            rowScale[r] = k.quantizeInt8(x, r * in, in, row);
            for (int s = 0; s + 1 < seg.length; s++)
                for (int c = seg[s]; c < seg[s + 1]; c++) xs[r * pad + BLOCK * bs[s] + c - seg[s]] = row[c];
            int p = r * (blocks + 1), sum = 0;
            for (int b = 0; b < blocks; b++) {
                pre[p + b] = sum;
                for (int j = 0; j < BLOCK; j++) sum += xs[r * pad + BLOCK * b + j];
            }
            pre[p + blocks] = sum;
        }
        int tiles = firstTile[ws.length];
        long tileBytes = (long) blocks * PackedTwoBitLayout.LINE * m;
        int grain = (int) Math.max(Math.max(1, MIN_BYTES_PER_PIECE / Math.max(1, tileBytes)),
                (tiles + PIECES_PER_THREAD * Parallel.THREADS - 1) / (PIECES_PER_THREAD * Parallel.THREADS));
        Parallel.shared(tiles, grain, (t0, t1) -> {
            int[] acc = new int[m * T];
            for (int i = 0; i < ws.length; i++) {
                int a = Math.max(t0, firstTile[i]), b = Math.min(t1, firstTile[i + 1]);
                if (a < b) tiles(ls[i], xs, pre, rowScale, m, ys[i], a - firstTile[i], b - firstTile[i], acc);
            }
        });
    }

    private static void tiles(PackedTwoBitLayout l, short[] xs, int[] pre, float[] rowScale, int m, float[] y, int t0, int t1, int[] acc) {
        PackedTernary w = l.source;
        int out = w.rows(), blocks = l.blocks(), pad = BLOCK * blocks, pw = blocks + 1;
        for (int t = t0; t < t1; t++) {
            long tile = l.tileAt(t);
            for (int s = 0; s < w.segments(); s++) {
                java.util.Arrays.fill(acc, 0);
                int bs = l.blockStart[s], be = l.blockStart[s + 1];
                if (m == 1) PackedTwoBit.int8Row(xs, 0, pre, 0, l.codes, tile, bs, be, acc, 0);
                else
                    for (int b0 = bs; b0 < be; b0 += PackedTwoBit.RUN) {
                        int b1 = Math.min(be, b0 + PackedTwoBit.RUN), r = 0;
                        for (; r + ROWS <= m; r += ROWS)
                            PackedTwoBit.int8Rows4(xs, r * pad, (r + 1) * pad, (r + 2) * pad, (r + 3) * pad,
                                    pre, r * pw, (r + 1) * pw, (r + 2) * pw, (r + 3) * pw, l.codes, tile, b0, b1,
                                    acc, r * T, (r + 1) * T, (r + 2) * T, (r + 3) * T);
                        for (; r < m; r++) PackedTwoBit.int8Row(xs, r * pad, pre, r * pw, l.codes, tile, b0, b1, acc, r * T);
                    }
                int valid = Math.min(T, out - t * T);
                for (int i = 0; i < valid; i++) {
                    int o = t * T + i;
                    float gamma = w.scale(o, s);
                    for (int r = 0; r < m; r++) {
                        float v = acc[r * T + i] * (rowScale[r] * gamma);
                        y[r * out + o] = s == 0 ? v : y[r * out + o] + v;
                    }
                }
            }
        }
    }
}
