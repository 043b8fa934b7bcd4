package tern.simd;

/**
 * The int8 product of {@link PackedMatmul} on {@link PackedTwoBit}'s kernels: activations quantized as
 * every int8 path quantizes them, laid out per column pair of blocks of the q2 copy ({@link PackedTwoBitLayout}:
 * each segment's columns padded with zeros to whole pairs), with per-row prefix sums over pairs for the
 * runs' Σx; tiles claimed in pieces as {@link PackedMatmul} claims them. One row: its telescoped
 * activations laid out once ({@link PackedTwoBit#telescope}). Several rows: in blocks of 16, per run of
 * {@link #ROWS_RUN} pairs four rows' activations are laid out once and applied to every tile of the piece
 * ({@link PackedTwoBit#int8Rows4}), the rest one row at a time.
 * The sums are exact integers, so any grouping
 * of rows gives the same bits, and the scaling is the one every int8 path applies: acc·(s_row·γ).
 */
final class PackedTwoBitMatmul {
    private static final long MIN_BYTES_PER_PIECE = 1 << 14;
    private static final int PIECES_PER_THREAD = 8, T = PackedTernary.TILE, ROWS = 4, BLOCK = PackedTwoBitLayout.BLOCK,
            PAIR = PackedTwoBitLayout.PAIR;
    /** Rows whose int32 sums a piece keeps at once (16 · 8 tiles · 64 · 4 B = 32 KiB at the smallest piece). */
    private static final int ROW_BLOCK = 16;
    /** Whether the four-row kernel runs (else every row runs the one-row kernel per run; the measurement switch). */
    private static final boolean ROWS4 = Boolean.parseBoolean(System.getProperty("tern.twobit.rows4", "true"));
    /**
     * Pairs per run of the several-row loop: 4 (64 columns), so four rows' activations take 4 KiB at 256
     * bits and stay in L1 beside the tiles' codes (at 256 columns the old layout's filled it). At most
     * {@link PackedTwoBit#RUN}.
     */
    private static final int ROWS_RUN = Math.max(1, Math.min(PackedTwoBit.RUN, Integer.getInteger("tern.twobit.rowsRun", 4)));

    /**
     * One row: column runs outside the tiles where the row's telescoped activations exceed this many
     * bytes (L1d: 32 KiB on Zen 3 and Zen 4), else tile by tile over the whole row (fewer calls; at 1024
     * columns runs outside measured 1.4× slower). With one int32 a step ({@link PackedTwoBit#STEPS}) a row
     * takes 2 bytes a column, 28 KiB at 14336: every shape of the issue runs tile by tile.
     * -Dtern.twobit.runsOuterBytes=0 or a large value forces one order (the measurement switch).
     */
    private static final long RUNS_OUTER_BYTES = Long.getLong("tern.twobit.runsOuterBytes", 32 << 10);

    private PackedTwoBitMatmul() {}

    static void int8(PackedKernels k, PackedTernary[] ws, int[] firstTile, float[] x, int m, float[][] ys) {
        PackedTwoBitLayout[] ls = new PackedTwoBitLayout[ws.length];
        for (int i = 0; i < ws.length; i++) ls[i] = PackedTwoBitLayout.of(ws[i]);
        PackedTernary w = ws[0];
        int[] bs = ls[0].blockStart, seg = w.segStart();
        int in = w.cols(), blocks = bs[bs.length - 1], pairs = blocks / 2, pad = BLOCK * blocks;
        long clock = m == 1 ? OpClock.start() : 0;
        float[] rowScale = new float[m];
        short[] xs = new short[m * pad];
        int[] pre = new int[m * (pairs + 1)];
        byte[] row = new byte[in];
        for (int r = 0; r < m; r++) {
            rowScale[r] = k.quantizeInt8(x, r * in, in, row);
            // Plain loops over one offset each (C2 vectorizes the copy); per element index arithmetic took ~1 µs at 1024 columns.
            for (int s = 0; s + 1 < seg.length; s++) {
                int to = r * pad + BLOCK * bs[s] - seg[s];
                for (int c = seg[s]; c < seg[s + 1]; c++) xs[to + c] = row[c];
            }
            int p = r * (pairs + 1), sum = 0;
            for (int b = 0, at = r * pad; b < pairs; b++, at += PAIR) {
                pre[p + b] = sum;
                for (int j = 0; j < PAIR; j++) sum += xs[at + j];
            }
            pre[p + pairs] = sum;
        }
        int[] yb = null;
        if (m == 1) PackedTwoBit.telescope(xs, 0, 0, pairs, yb = new int[pairs * PackedTwoBit.STEPS], 0);
        int[] y1 = yb;
        if (m == 1) OpClock.stop(OpClock.Kind.PACKED_SETUP, clock);
        int tiles = firstTile[ws.length];
        long tileBytes = (long) blocks * PackedTwoBitLayout.LINE * m;
        // One row: small pieces (claimed as PackedMatmul claims them). Several: pieces of at least 8 tiles,
        // since each piece broadcasts every row's activations once per run for all its tiles.
        int grain = m == 1 ? (int) Math.max(Math.max(1, MIN_BYTES_PER_PIECE / Math.max(1, tileBytes)),
                (tiles + PIECES_PER_THREAD * Parallel.THREADS - 1) / (PIECES_PER_THREAD * Parallel.THREADS))
                : Math.max(Math.min(tiles, 8), (tiles + 2 * Parallel.THREADS - 1) / (2 * Parallel.THREADS));
        Parallel.shared(tiles, grain, (t0, t1) -> {
            for (int i = 0; i < ws.length; i++) {
                int a = Math.max(t0, firstTile[i]), b = Math.min(t1, firstTile[i + 1]);
                if (a < b) {
                    if (m == 1) oneRow(ls[i], y1, pre, rowScale[0], ys[i], a - firstTile[i], b - firstTile[i]);
                    else rows(ls[i], xs, pre, rowScale, m, ys[i], a - firstTile[i], b - firstTile[i]);
                }
            }
        });
    }

    /** γ of output o in segment s: {@link PackedTernary#scale}, without its division when there is one shard. */
    private static float scale(PackedTernary w, int o, int s) { return w.shards() == 1 ? w.scales()[0] : w.scale(o, s); }

    /**
     * One row. Where the row's activations do not fit L1 ({@link #RUNS_OUTER_BYTES}; beyond 16384 columns),
     * column runs outermost and tiles inside, so one run's (512 bytes) stay in L1 for
     * every tile of the piece instead of coming from L2 twice a tile (not measurably faster on the busy
     * machine of 2 Dec: 2.8–3.6 ms against 3.3–4.3 ms at 4096×14336, medians of alternating runs).
     */
    private static void oneRow(PackedTwoBitLayout l, int[] yb, int[] pre, float rowScale, float[] y, int t0, int t1) {
        PackedTernary w = l.source;
        int out = w.rows();
        int[] acc = new int[(t1 - t0) * T];
        for (int s = 0; s < w.segments(); s++) {
            java.util.Arrays.fill(acc, 0);
            int q0 = l.blockStart[s] / 2, q1 = l.blockStart[s + 1] / 2;
            if (4L * yb.length > RUNS_OUTER_BYTES)
                for (int p0 = q0; p0 < q1; p0 += PackedTwoBit.RUN) {
                    int p1 = Math.min(q1, p0 + PackedTwoBit.RUN);
                    for (int t = t0; t < t1; t++)
                        PackedTwoBit.int8Row(yb, PackedTwoBit.STEPS * p0, pre, 0, l.codes, l.tileAt(t), l.groupStride(), p0, p1, acc, (t - t0) * T);
                }
            else
                for (int t = t0; t < t1; t++)
                    PackedTwoBit.int8Row(yb, PackedTwoBit.STEPS * q0, pre, 0, l.codes, l.tileAt(t), l.groupStride(), q0, q1, acc, (t - t0) * T);
            if (w.shards() == 1 && w.segments() == 1) {
                // One γ and one segment (the common matrix): the same expression with its factor hoisted, one
                // plain loop that C2 vectorizes (the general loop below was 6 % of a 1024×1024 product, JFR).
                float c = rowScale * w.scales()[0];
                for (int o = t0 * T, end = Math.min(out, t1 * T), a = -t0 * T; o < end; o++) y[o] = acc[o + a] * c;
                continue;
            }
            for (int t = t0; t < t1; t++) {
                int valid = Math.min(T, out - t * T);
                for (int i = 0; i < valid; i++) {
                    int o = t * T + i;
                    float v = acc[(t - t0) * T + i] * (rowScale * scale(w, o, s));
                    y[o] = s == 0 ? v : y[o] + v;
                }
            }
        }
    }

    /**
     * A thread's sums and broadcast activations for {@link #rows}, kept between calls: allocated per piece they
     * came to ≈ 20 MB a batched decode step of the 390M model (8 rows), eight young collections a step, and
     * every piece wrote them to memory not in the cache. Both are overwritten before they are read (the sums
     * zeroed per row block and segment, the laid-out activations per run), so reuse changes no result.
     */
    private static final class Scratch {
        static final ThreadLocal<Scratch> MINE = ThreadLocal.withInitial(Scratch::new);
        /** Entries kept between calls at most (a long prefill's sums are left to the collector). */
        private static final int KEEP = 1 << 20;
        private int[] acc = new int[0], xb = new int[0], yr = new int[0];

        int[] acc(int n) {
            if (acc.length >= n) return acc;
            int[] a = new int[n];
            if (n <= KEEP) acc = a;
            return a;
        }

        int[] xb(int n) {
            if (xb.length < n) xb = new int[n];
            return xb;
        }

        int[] yr(int n) {
            if (yr.length < n) yr = new int[n];
            return yr;
        }
    }

    /** Rows at a time: blocks of {@link #ROW_BLOCK} rows; per run, four rows' activations laid out once and applied to every tile. */
    private static void rows(PackedTwoBitLayout l, short[] xs, int[] pre, float[] rowScale, int m, float[] y, int t0, int t1) {
        PackedTernary w = l.source;
        int out = w.rows(), blocks = l.blocks(), pad = BLOCK * blocks, pw = blocks / 2 + 1, n = t1 - t0;
        Scratch mine = Scratch.MINE.get();
        int[] acc = mine.acc(Math.min(m, ROW_BLOCK) * n * T);
        int[] xb = mine.xb(ROWS * PackedTwoBit.PAIR_LANES * ROWS_RUN), yr = mine.yr(PackedTwoBit.STEPS * ROWS_RUN);
        for (int r0 = 0; r0 < m; r0 += ROW_BLOCK) {
            int rows = Math.min(ROW_BLOCK, m - r0);
            for (int s = 0; s < w.segments(); s++) {
                java.util.Arrays.fill(acc, 0, rows * n * T, 0);
                for (int b0 = l.blockStart[s] / 2; b0 < l.blockStart[s + 1] / 2; b0 += ROWS_RUN) {
                    int b1 = Math.min(l.blockStart[s + 1] / 2, b0 + ROWS_RUN), r = 0;
                    for (; ROWS4 && r + ROWS <= rows; r += ROWS) {
                        int R = r0 + r;
                        PackedTwoBit.broadcast(xs, R * pad, (R + 1) * pad, (R + 2) * pad, (R + 3) * pad, b0, b1, xb);
                        for (int t = t0; t < t1; t++) {
                            int a = (r * n + t - t0) * T, step = n * T;
                            PackedTwoBit.int8Rows4(xb, pre, R * pw, (R + 1) * pw, (R + 2) * pw, (R + 3) * pw, l.codes, l.tileAt(t), l.groupStride(), b0, b1,
                                    acc, a, a + step, a + 2 * step, a + 3 * step);
                        }
                    }
                    for (; r < rows; r++) {
                        PackedTwoBit.telescope(xs, (r0 + r) * pad, b0, b1, yr, 0);
                        for (int t = t0; t < t1; t++)
                            PackedTwoBit.int8Row(yr, 0, pre, (r0 + r) * pw, l.codes, l.tileAt(t), l.groupStride(), b0, b1, acc, (r * n + t - t0) * T);
                    }
                }
                for (int t = t0; t < t1; t++) {
                    int valid = Math.min(T, out - t * T);
                    for (int i = 0; i < valid; i++) {
                        int o = t * T + i;
                        float gamma = scale(w, o, s);
                        for (int r = 0; r < rows; r++) {
                            int at = (r0 + r) * out + o;
                            float v = acc[(r * n + t - t0) * T + i] * (rowScale[r0 + r] * gamma);
                            y[at] = s == 0 ? v : y[at] + v;
                        }
                    }
                }
            }
        }
    }
}
