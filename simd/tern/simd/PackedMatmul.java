package tern.simd;

/**
 * Inference products on packed ternary weights ({@link PackedTernary}): y [m, out] ← x [m, in] · (γT)ᵀ,
 * for one activation row (decode: a matrix-vector product that streams the codes once) or several rows
 * (prompt prefill, batched decode: with int8 activations {@link #int8Rows} decodes each tile's codes once
 * and applies them to four rows at a time; with float activations each 8 KiB run of a tile's codes is read
 * from memory once and reused from L1 for every row). Additions and subtractions of activations only; one multiplication by the
 * scale(s) per output. Tiles of 64 outputs are claimed in pieces by the caller and {@link Parallel}'s
 * workers ({@link Parallel#shared}: a decode step makes ~100 of these calls, and on a busy machine waiting
 * for a parked worker to be scheduled cost more than the product).
 *
 * <p>Two activation types:
 * <ul>
 * <li>{@link Activations#FLOAT}: f32 activations, f32 sums (the model exactly as trained);</li>
 * <li>{@link Activations#INT8}: each row quantized to int8 by absmax (s = max|x|/127,
 *     q = clamp(rint(x/s), −127, 127)), exact integer sums, then y = acc·(s·γ): BitNet b1.58's
 *     activation quantizer, which changes the numbers slightly for a model trained without it.</li>
 * </ul>
 */
public final class PackedMatmul {
    /** How activations enter the sums. */
    public enum Activations { FLOAT, INT8 }

    private static final PackedKernels PREFERRED = KernelProvider.preferred().packed();
    /** Groups per run of a tile when several rows share its codes: 64 · 128 B = 8 KiB, L1-resident. */
    private static final int BATCH_GROUPS = 64;
    /** Code bytes of one piece of work at least, so claiming it (an atomic increment) costs nothing. */
    private static final long MIN_BYTES_PER_PIECE = 1 << 14;
    /** Pieces per thread to aim for, so a thread that falls behind leaves pieces for the others. */
    private static final int PIECES_PER_THREAD = 8;
    /** Tiles a kernel call streams side by side ({@link PackedKernels#int8TilePair}, {@link PackedKernels#floatTilePair}). */
    private static final int PAIR = 2;

    private PackedMatmul() {}

    /** Which kernel twin runs here: "vector N-bit (kernel names)" or "scalar". */
    public static String path() {
        if (PREFERRED == PackedScalar.INSTANCE) return "scalar";
        String name = PREFERRED.getClass().getSimpleName();
        // The 2-bit kernels run int8 activations only; float ones decode t9 (PackedDigits).
        return "vector " + Vectorization.BITS + "-bit " + (name.equals("PackedTwoBit") ? "PackedTwoBit int8, PackedDigits float" : name);
    }

    /** y[r·out + o] ← Σ_c x[r·in + c]·γT[o][c] for r &lt; m (y is overwritten). */
    public static void matmul(PackedTernary w, float[] x, int m, float[] y, Activations activations) {
        matmul(PREFERRED, w, x, m, y, activations);
    }

    static void matmul(PackedKernels k, PackedTernary w, float[] x, int m, float[] y, Activations activations) {
        matmul(k, new PackedTernary[] {w}, x, m, new float[][] {y}, activations);
    }

    /**
     * Several products of the same input, y_i ← x · (γT_i)ᵀ (e.g. q, k and v; gate and up): the matrices
     * must have the same columns and column segments, so the subset-sum tables are built once and all
     * tiles share one parallel loop (one fork instead of one per matrix).
     */
    public static void matmul(PackedTernary[] ws, float[] x, int m, float[][] ys, Activations activations) {
        matmul(PREFERRED, ws, x, m, ys, activations);
    }

    static void matmul(PackedKernels k, PackedTernary[] ws, float[] x, int m, float[][] ys, Activations activations) {
        PackedTernary w = ws[0];
        int in = w.cols();
        if (m < 1) throw new IllegalArgumentException("need at least one activation row, got " + m);
        if (ws.length != ys.length) throw new IllegalArgumentException(ws.length + " matrices but " + ys.length + " outputs");
        if (x.length < (long) m * in)
            throw new IllegalArgumentException(m + " rows of " + in + " activations need " + (long) m * in + " values, x has " + x.length);
        int[] firstTile = new int[ws.length + 1];
        for (int i = 0; i < ws.length; i++) {
            if (ws[i].cols() != in || !java.util.Arrays.equals(ws[i].segStart(), w.segStart()))
                throw new IllegalArgumentException("matrices sharing an input need the same columns and segments: " + ws[i] + " vs " + w);
            if (ys[i].length < (long) m * ws[i].rows())
                throw new IllegalArgumentException(m + " rows of " + ws[i].rows() + " outputs need " + (long) m * ws[i].rows()
                        + " values, y has " + ys[i].length);
            firstTile[i + 1] = firstTile[i] + ws[i].tiles();
        }
        long tileBytes = (long) w.groups() * PackedTernary.LINE * m;
        int tiles = firstTile[ws.length];
        if (activations == Activations.INT8 && k.int8Product(ws, firstTile, x, m, ys)) return;
        if (activations == Activations.INT8 && m >= 2) {
            int8Rows(k, ws, firstTile, x, m, ys);
            return;
        }
        if (m >= BLOCKED_MIN_ROWS) {
            blocked(k, ws, firstTile, x, m, ys, activations);
            return;
        }
        int grain = (int) Math.max(Math.max(1, MIN_BYTES_PER_PIECE / Math.max(1, tileBytes)),
                (tiles + PIECES_PER_THREAD * Parallel.THREADS - 1) / (PIECES_PER_THREAD * Parallel.THREADS));
        // Each thread builds its own tables on the first piece it takes (Tables): reading tables another
        // core has just written cost more than a decode-size product, and building them is cheap.
        Object call = new Object();
        if (activations == Activations.FLOAT) {
            Parallel.shared(tiles, grain, (t0, t1) -> {
                float[][] tables = Tables.mine().floats(call, k, w, x, m);
                forEachMatrix(firstTile, t0, t1, (i, a, b) -> floatTiles(k, ws[i], tables, m, ys[i], a, b));
            });
        } else {
            float[] rowScale = new float[m];
            byte[] q = new byte[m * in], row = new byte[in];
            for (int r = 0; r < m; r++) {
                rowScale[r] = k.quantizeInt8(x, r * in, in, row);
                System.arraycopy(row, 0, q, r * in, in);
            }
            Parallel.shared(tiles, grain, (t0, t1) -> {
                short[][] tables = Tables.mine().shorts(call, k, w, q, m);
                forEachMatrix(firstTile, t0, t1, (i, a, b) -> int8Tiles(k, ws[i], tables, rowScale, m, ys[i], a, b));
            });
        }
    }

    /** Groups of one int16 run of the multi-row int8 kernels (exact: {@link PackedVector#INT16_GROUPS}). */
    private static final int INT16_GROUPS = 28;
    /** Activation rows whose tables a thread keeps for a whole call of {@link #int8Rows}; more are taken in blocks of this many. */
    private static final int INT8_ROW_BLOCK = 16;
    /** Rows one multi-row kernel call applies a tile's codes to ({@link PackedMatmulRows512#int8Tile4}). */
    private static final int ROWS_PER_KERNEL = 4;
    /** The 512-bit four-row kernel runs when the vector kernels do at 512 bits (named only then: no vector class otherwise). */
    private static final boolean ROWS512 = Vectorization.ENABLED && PackedVector.SUPPORTED && Vectorization.BITS == 512
            && PackedMatmulRows512.ACTIVE;
    /** Rows of the eight-row kernel ({@link PackedMatmulRows512#int8Tile8}); 5–7 left rows run it with padding rows. */
    private static final int ROWS_PER_WIDE_KERNEL = 8;
    /** Left rows from which the eight-row kernel, padded, beats the four-row one and one-row calls (measured: BENCHMARKS.md). */
    private static final int WIDE_FROM = Integer.getInteger("tern.packed.rows8From", 5);
    /** On with {@code -Dtern.packed.rows8=true}; off by default: measured no faster than two four-row passes (BENCHMARKS.md, 3 Dec 2026, h15). */
    private static final boolean ROWS8 = ROWS512 && Boolean.parseBoolean(System.getProperty("tern.packed.rows8", "false"));
    /** Groups per run of the eight-row kernel: 8 rows' tables of a run (8 · 96 · 2 B per group) should stay in L1. */
    private static final int WIDE_RUN = wideRun(Integer.getInteger("tern.packed.rows8Run", INT16_GROUPS));

    private static int wideRun(int groups) {
        if (groups < 1 || groups > INT16_GROUPS)
            throw new IllegalArgumentException("-Dtern.packed.rows8Run=" + groups + ": an int16 run is 1 to " + INT16_GROUPS + " groups");
        return groups;
    }

    /**
     * Int8 activations, two rows or more (batched decode, prefill): the weights' codes are decoded once per
     * tile and group and applied to every row. Groups in runs of {@link #INT16_GROUPS} (one int16 run of the
     * kernel); per run, rows four at a time ({@link PackedMatmulRows512#int8Tile4}), each tile of the thread's
     * piece in turn, so the four rows' tables of the run (4 · 28 · 192 B = 21 KiB) stay in L1 while the tiles'
     * codes stream past, read from memory once per row block of up to {@link #INT8_ROW_BLOCK} rows and from
     * the cache for the others. Rows left over (m mod 4) run the one-row tile kernel. Up to 16 rows each thread
     * builds every row's tables once per call (as a decode step); more rows are taken 16 at a time per piece
     * (a 512-token prefill needs 16 rows' tables per thread, not 512).
     */
    private static void int8Rows(PackedKernels k, PackedTernary[] ws, int[] firstTile, float[] x, int m, float[][] ys) {
        PackedTernary w = ws[0];
        int in = w.cols(), tiles = firstTile[ws.length];
        float[] rowScale = new float[m];
        byte[] q = new byte[m * in], row = new byte[in];
        for (int r = 0; r < m; r++) {
            rowScale[r] = k.quantizeInt8(x, r * in, in, row);   // the provider's (vector) quantizer, bit for bit the scalar one
            System.arraycopy(row, 0, q, r * in, in);
        }
        Object call = new Object();
        if (m <= INT8_ROW_BLOCK) {
            long tileBytes = (long) w.groups() * PackedTernary.LINE;
            int grain = (int) Math.max(Math.max(1, MIN_BYTES_PER_PIECE / Math.max(1, tileBytes)),
                    (tiles + PIECES_PER_THREAD * Parallel.THREADS - 1) / (PIECES_PER_THREAD * Parallel.THREADS));
            Parallel.shared(tiles, grain, (t0, t1) -> {
                short[][] tables = Tables.mine().shorts(call, k, w, q, m);
                forEachMatrix(firstTile, t0, t1, (i, a, b) -> int8RowBlock(k, ws[i], tables, rowScale, 0, m, ys[i], a, b));
            });
            return;
        }
        // One piece per thread: each piece builds every row's tables once more (about a tenth of its work).
        int grain = Math.max(1, (tiles + Parallel.THREADS - 1) / Parallel.THREADS);
        Parallel.shared(tiles, grain, (t0, t1) -> {
            int need = PackedKernels.GROUP_TABLE * w.groups();
            short[][] st = new short[INT8_ROW_BLOCK][need];
            for (int r0 = 0; r0 < m; r0 += INT8_ROW_BLOCK) {
                int rows = Math.min(INT8_ROW_BLOCK, m - r0), first = r0;
                for (int r = 0; r < rows; r++)
                    for (int s = 0; s < w.segments(); s++)
                        k.int8Tables(q, (r0 + r) * in, w.segStart()[s], w.segStart()[s + 1], st[r], PackedKernels.GROUP_TABLE * w.groupStart()[s]);
                forEachMatrix(firstTile, t0, t1, (i, a, b) -> int8RowBlock(k, ws[i], st, rowScale, first, rows, ys[i], a, b));
            }
        });
    }

    /**
     * Rows [r0, r0 + rows) of y ← x·(γT)ᵀ over tiles [t0, t1), tables[r] holding row r0 + r's int8 tables of
     * every group (see {@link #int8Rows}).
     */
    private static void int8RowBlock(PackedKernels k, PackedTernary w, short[][] tables, float[] rowScale, int r0, int rows,
                                     float[] y, int t0, int t1) {
        int out = w.rows(), n = t1 - t0, T = PackedTernary.TILE, perRow = n * T;
        boolean wide = ROWS8 && k == PackedVector.INSTANCE && rows >= WIDE_FROM;
        // The eight-row kernel's padding rows (when 5–7 rows are left) sum into acc past the real rows' and
        // read the last real row's tables; nothing reads those sums.
        int padded = wide ? rows + (ROWS_PER_WIDE_KERNEL - rows % ROWS_PER_WIDE_KERNEL) % ROWS_PER_WIDE_KERNEL : rows;
        int[] acc = Tables.mine().ints(padded * perRow);
        short[][] eight = new short[ROWS_PER_WIDE_KERNEL][];
        short[] sums = wide ? new short[ROWS_PER_WIDE_KERNEL * T] : null;
        int run = wide ? WIDE_RUN : INT16_GROUPS;
        for (int s = 0; s < w.segments(); s++) {
            java.util.Arrays.fill(acc, 0, rows * perRow, 0);
            int gs = w.groupStart()[s], ge = w.groupStart()[s + 1];
            for (int g0 = gs; g0 < ge; g0 += run) {
                int g1 = Math.min(ge, g0 + run), tOff = PackedKernels.GROUP_TABLE * g0;
                int r = 0;
                if (wide)
                    for (; rows - r >= WIDE_FROM; r += ROWS_PER_WIDE_KERNEL) {
                        for (int j = 0; j < ROWS_PER_WIDE_KERNEL; j++) eight[j] = tables[Math.min(r + j, rows - 1)];
                        for (int t = t0; t < t1; t++)
                            PackedMatmulRows512.int8Tile8(eight, tOff, w.codes(), w.tileAt(t), g0, g1, acc, r * perRow + (t - t0) * T, perRow, sums);
                    }
                if (ROWS512 && k == PackedVector.INSTANCE)
                    for (; r + ROWS_PER_KERNEL <= rows; r += ROWS_PER_KERNEL)
                        for (int t = t0; t < t1; t++) {
                            int a = r * perRow + (t - t0) * T;
                            PackedMatmulRows512.int8Tile4(tables[r], tables[r + 1], tables[r + 2], tables[r + 3], tOff, w.codes(), w.tileAt(t),
                                    g0, g1, acc, a, a + perRow, a + 2 * perRow, a + 3 * perRow);
                        }
                for (; r < rows; r++)
                    for (int t = t0; t < t1; t++) k.int8Tile(tables[r], tOff, w.codes(), w.tileAt(t), g0, g1, acc, r * perRow + (t - t0) * T);
            }
            for (int t = t0; t < t1; t++) {
                int valid = Math.min(T, out - t * T);
                for (int i = 0; i < valid; i++) {
                    float gamma = w.scale(t * T + i, s);         // once per output, not per row
                    for (int r = 0; r < rows; r++) {
                        int at = (r0 + r) * out + t * T + i;
                        float v = acc[r * perRow + (t - t0) * T + i] * (rowScale[r0 + r] * gamma);
                        y[at] = s == 0 ? v : y[at] + v;
                    }
                }
            }
        }
    }

    /** Activation rows from which a float-activation product runs {@link #blocked} (prompt prefill, large batches). */
    static final int BLOCKED_MIN_ROWS = Integer.getInteger("tern.packed.blockedRows", 16);
    /** Rows whose tables stay in L2 together: 16 rows × 64 groups × 96 entries × 2 B (int8) = 192 KiB. */
    private static final int ROW_BLOCK = 16;

    /**
     * Many rows, blocked for the cache: rows in blocks of {@link #ROW_BLOCK}, groups in runs of
     * {@link #BATCH_GROUPS}; per (row block, run) every tile pair of the thread's piece streams its codes once
     * from memory (16 KiB, reused from L1 for the block's rows) while the block's tables of the run stay in
     * L2. The unblocked loop instead read every row's tables of a run once per tile pair: at 512 rows of
     * 14,336 columns that is 150 MiB of tables per pass, from memory. Each thread builds the tables of one
     * row block at a time (so a 512-row prefill needs 5 MiB of tables per thread, not 150 MiB), and takes
     * few, large pieces, since each piece rebuilds them.
     */
    private static void blocked(PackedKernels k, PackedTernary[] ws, int[] firstTile, float[] x, int m, float[][] ys,
                                Activations activations) {
        PackedTernary w = ws[0];
        int in = w.cols(), tiles = firstTile[ws.length];
        float[] rowScale = new float[m];
        byte[] q = null;
        if (activations == Activations.INT8) {
            q = new byte[m * in];
            byte[] row = new byte[in];
            for (int r = 0; r < m; r++) {
                rowScale[r] = k.quantizeInt8(x, r * in, in, row);
                System.arraycopy(row, 0, q, r * in, in);
            }
        }
        byte[] qs = q;
        int grain = Math.max(PAIR, (tiles + 2 * Parallel.THREADS - 1) / (2 * Parallel.THREADS));
        Parallel.shared(tiles, grain, (t0, t1) -> {
            int need = PackedKernels.GROUP_TABLE * w.groups();
            float[][] ft = activations == Activations.FLOAT ? new float[ROW_BLOCK][need] : null;
            short[][] st = activations == Activations.INT8 ? new short[ROW_BLOCK][need] : null;
            for (int r0 = 0; r0 < m; r0 += ROW_BLOCK) {
                int rows = Math.min(ROW_BLOCK, m - r0);
                for (int r = 0; r < rows; r++)
                    for (int s = 0; s < w.segments(); s++) {
                        int c0 = w.segStart()[s], c1 = w.segStart()[s + 1], tOff = PackedKernels.GROUP_TABLE * w.groupStart()[s];
                        if (ft != null) k.floatTables(x, (r0 + r) * in, c0, c1, ft[r], tOff);
                        else k.int8Tables(qs, (r0 + r) * in, c0, c1, st[r], tOff);
                    }
                int first = r0;
                forEachMatrix(firstTile, t0, t1, (i, a, b) -> {
                    if (ft != null) floatBlock(k, ws[i], ft, first, rows, ys[i], a, b);
                    else int8Block(k, ws[i], st, rowScale, first, rows, ys[i], a, b);
                });
            }
        });
    }

    /** Rows [r0, r0 + rows) of y ← x·(γT)ᵀ over tiles [t0, t1), float tables of those rows (see {@link #blocked}). */
    private static void floatBlock(PackedKernels k, PackedTernary w, float[][] tables, int r0, int rows, float[] y, int t0, int t1) {
        int out = w.rows(), n = t1 - t0, T = PackedTernary.TILE;
        float[] acc = new float[rows * n * T];
        for (int s = 0; s < w.segments(); s++) {
            java.util.Arrays.fill(acc, 0f);
            int gs = w.groupStart()[s], ge = w.groupStart()[s + 1];
            for (int g0 = gs; g0 < ge; g0 += BATCH_GROUPS) {
                int g1 = Math.min(ge, g0 + BATCH_GROUPS), tOff = PackedKernels.GROUP_TABLE * g0;
                for (int t = t0; t < t1; t += PAIR) {
                    boolean pair = t + 1 < t1;
                    long a = w.tileAt(t), b = pair ? w.tileAt(t + 1) : 0;
                    for (int r = 0; r < rows; r++) {
                        int accA = (r * n + t - t0) * T;
                        if (pair) k.floatTilePair(tables[r], tOff, w.codes(), a, b, g0, g1, acc, accA, accA + T);
                        else k.floatTile(tables[r], tOff, w.codes(), a, g0, g1, acc, accA);
                    }
                }
            }
            for (int r = 0; r < rows; r++)
                for (int t = t0; t < t1; t++) {
                    int valid = Math.min(T, out - t * T), base = (r * n + t - t0) * T;
                    for (int i = 0; i < valid; i++) {
                        int o = t * T + i;
                        float v = w.scale(o, s) * acc[base + i];
                        int at = (r0 + r) * out + o;
                        y[at] = s == 0 ? v : y[at] + v;
                    }
                }
        }
    }

    /** The int8 twin of {@link #floatBlock}: exact integer sums, then acc·(s_row·γ). */
    private static void int8Block(PackedKernels k, PackedTernary w, short[][] tables, float[] rowScale, int r0, int rows,
                                  float[] y, int t0, int t1) {
        int out = w.rows(), n = t1 - t0, T = PackedTernary.TILE;
        int[] acc = new int[rows * n * T];
        for (int s = 0; s < w.segments(); s++) {
            java.util.Arrays.fill(acc, 0);
            int gs = w.groupStart()[s], ge = w.groupStart()[s + 1];
            for (int g0 = gs; g0 < ge; g0 += BATCH_GROUPS) {
                int g1 = Math.min(ge, g0 + BATCH_GROUPS), tOff = PackedKernels.GROUP_TABLE * g0;
                for (int t = t0; t < t1; t += PAIR) {
                    boolean pair = t + 1 < t1;
                    long a = w.tileAt(t), b = pair ? w.tileAt(t + 1) : 0;
                    for (int r = 0; r < rows; r++) {
                        int accA = (r * n + t - t0) * T;
                        if (pair) k.int8TilePair(tables[r], tOff, w.codes(), a, b, g0, g1, acc, accA, accA + T);
                        else k.int8Tile(tables[r], tOff, w.codes(), a, g0, g1, acc, accA);
                    }
                }
            }
            for (int r = 0; r < rows; r++)
                for (int t = t0; t < t1; t++) {
                    int valid = Math.min(T, out - t * T), base = (r * n + t - t0) * T;
                    for (int i = 0; i < valid; i++) {
                        int o = t * T + i;
                        float v = acc[base + i] * (rowScale[r0 + r] * w.scale(o, s));
                        int at = (r0 + r) * out + o;
                        y[at] = s == 0 ? v : y[at] + v;
                    }
                }
        }
    }

    /**
     * One thread's subset-sum tables for the call it is working on, rebuilt when the call changes; the
     * arrays are reused by the next call when they are large enough, so a decode step allocates none,
     * and replaced by smaller ones when they exceed {@link #KEEP} entries (a long prefill's).
     */
    private static final class Tables {
        private static final ThreadLocal<Tables> MINE = ThreadLocal.withInitial(Tables::new);
        /** Table entries a thread keeps between calls (4 MiB of floats); larger calls allocate their own. */
        private static final long KEEP = 1 << 20;
        private Object call;
        private float[][] floats = {new float[0]};
        private short[][] shorts = {new short[0]};
        private int[] ints = new int[0];

        /** A scratch array of at least n ints (contents undefined), reused by the thread's next call. */
        int[] ints(int n) {
            if (ints.length < n) ints = new int[n];
            return ints;
        }

        static Tables mine() { return MINE.get(); }

        float[][] floats(Object call, PackedKernels k, PackedTernary w, float[] x, int m) {
            if (this.call == call) return floats;
            int need = PackedKernels.GROUP_TABLE * w.groups();
            boolean fits = floats.length >= m && floats[0].length >= need && (long) floats.length * floats[0].length <= Math.max(KEEP, (long) m * need);
            float[][] t = fits ? floats : new float[m][need];
            for (int r = 0; r < m; r++)
                for (int s = 0; s < w.segments(); s++)
                    k.floatTables(x, r * w.cols(), w.segStart()[s], w.segStart()[s + 1], t[r], PackedKernels.GROUP_TABLE * w.groupStart()[s]);
            floats = t;
            this.call = call;
            return t;
        }

        short[][] shorts(Object call, PackedKernels k, PackedTernary w, byte[] q, int m) {
            if (this.call == call) return shorts;
            int need = PackedKernels.GROUP_TABLE * w.groups();
            boolean fits = shorts.length >= m && shorts[0].length >= need && (long) shorts.length * shorts[0].length <= Math.max(KEEP, (long) m * need);
            short[][] t = fits ? shorts : new short[m][need];
            for (int r = 0; r < m; r++)
                for (int s = 0; s < w.segments(); s++)
                    k.int8Tables(q, r * w.cols(), w.segStart()[s], w.segStart()[s + 1], t[r], PackedKernels.GROUP_TABLE * w.groupStart()[s]);
            shorts = t;
            this.call = call;
            return t;
        }
    }

    private interface TileRange { void run(int matrix, int t0, int t1); }

    /** Splits global tiles [t0, t1) (matrix i owns [firstTile[i], firstTile[i+1])) into per-matrix ranges. */
    private static void forEachMatrix(int[] firstTile, int t0, int t1, TileRange body) {
        for (int i = 0; i + 1 < firstTile.length; i++) {
            int a = Math.max(t0, firstTile[i]), b = Math.min(t1, firstTile[i + 1]);
            if (a < b) body.run(i, a - firstTile[i], b - firstTile[i]);
        }
    }

    /**
     * Absmax int8 quantization of x[off, off + n) into q[0, n): returns s = max|x|/127 (1 when all are 0),
     * q = clamp(rint(x/s), −127, 127).
     */
    public static float quantizeInt8(float[] x, int off, int n, byte[] q) {
        float max = 0f;
        for (int i = 0; i < n; i++) max = Math.max(max, Math.abs(x[off + i]));
        float s = max > 0f ? max / 127f : 1f;
        for (int i = 0; i < n; i++) q[i] = (byte) Math.max(-127, Math.min(127, (int) Math.rint(x[off + i] / s)));
        return s;
    }

    private static void floatTiles(PackedKernels k, PackedTernary w, float[][] tables, int m, float[] y, int t0, int t1) {
        int out = w.rows(), step = m == 1 ? Integer.MAX_VALUE : BATCH_GROUPS, second = m * PackedTernary.TILE;
        float[] acc = new float[2 * second];   // as in int8Tiles
        for (int t = t0; t < t1; t += PAIR) {
            int n = Math.min(PAIR, t1 - t);
            long tile = w.tileAt(t), tileB = n > 1 ? w.tileAt(t + 1) : 0;
            for (int s = 0; s < w.segments(); s++) {
                java.util.Arrays.fill(acc, 0f);
                int gs = w.groupStart()[s], ge = w.groupStart()[s + 1];
                for (int g0 = gs; g0 < ge; g0 += Math.min(step, ge - g0)) {
                    int g1 = (int) Math.min(ge, (long) g0 + step);
                    for (int r = 0; r < m; r++) {
                        int tOff = PackedKernels.GROUP_TABLE * g0, accOff = r * PackedTernary.TILE;
                        if (n > 1) k.floatTilePair(tables[r], tOff, w.codes(), tile, tileB, g0, g1, acc, accOff, second + accOff);
                        else k.floatTile(tables[r], tOff, w.codes(), tile, g0, g1, acc, accOff);
                    }
                }
                for (int u = 0; u < n; u++) {
                    int rows = Math.min(PackedTernary.TILE, out - (t + u) * PackedTernary.TILE);
                    for (int r = 0; r < m; r++)
                        for (int i = 0; i < rows; i++) {
                            int o = (t + u) * PackedTernary.TILE + i;
                            float v = w.scale(o, s) * acc[u * second + r * PackedTernary.TILE + i];
                            y[r * out + o] = s == 0 ? v : y[r * out + o] + v;
                        }
                }
            }
        }
    }

    private static void int8Tiles(PackedKernels k, PackedTernary w, short[][] tables, float[] rowScale, int m, float[] y, int t0, int t1) {
        int out = w.rows(), step = m == 1 ? Integer.MAX_VALUE : BATCH_GROUPS, second = m * PackedTernary.TILE;
        // Tiles two at a time (int8TilePair: two code streams in flight); acc holds tile A's m rows of
        // 64 sums, then tile B's.
        int[] acc = new int[2 * second];
        for (int t = t0; t < t1; t += PAIR) {
            int n = Math.min(PAIR, t1 - t);
            long tile = w.tileAt(t), tileB = n > 1 ? w.tileAt(t + 1) : 0;
            for (int s = 0; s < w.segments(); s++) {
                java.util.Arrays.fill(acc, 0);
                int gs = w.groupStart()[s], ge = w.groupStart()[s + 1];
                for (int g0 = gs; g0 < ge; g0 += Math.min(step, ge - g0)) {
                    int g1 = (int) Math.min(ge, (long) g0 + step);
                    for (int r = 0; r < m; r++) {
                        int tOff = PackedKernels.GROUP_TABLE * g0, accOff = r * PackedTernary.TILE;
                        if (n > 1) k.int8TilePair(tables[r], tOff, w.codes(), tile, tileB, g0, g1, acc, accOff, second + accOff);
                        else k.int8Tile(tables[r], tOff, w.codes(), tile, g0, g1, acc, accOff);
                    }
                }
                for (int u = 0; u < n; u++) {
                    int rows = Math.min(PackedTernary.TILE, out - (t + u) * PackedTernary.TILE);
                    for (int r = 0; r < m; r++)
                        for (int i = 0; i < rows; i++) {
                            int o = (t + u) * PackedTernary.TILE + i;
                            float v = acc[u * second + r * PackedTernary.TILE + i] * (rowScale[r] * w.scale(o, s));
                            y[r * out + o] = s == 0 ? v : y[r * out + o] + v;
                        }
                }
            }
        }
    }
}
