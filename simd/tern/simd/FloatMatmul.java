package tern.simd;

import tern.runtime.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * f32 matrix product for the CPU backend: c ← op(a)·op(b) (+ c if accumulate), GotoBLAS style.
 *
 * <p>For every block of KC steps of the inner dimension, the operand with fewer tiles (usually op(a)) is
 * packed once, by all threads, into one slab that every thread then reads; the other is cut into pieces
 * of whole tiles, about four per thread, that the threads claim as they come ({@link Parallel#shared}):
 * a core that is slower at the moment (another process on it, a busy neighbour) takes fewer pieces
 * instead of the whole call waiting for its fixed half, and the shared slab is packed once rather than
 * once per thread and per NC block. A piece packs its block of the other operand into NR-wide panels
 * ([p][NR], contiguous, zero padded) or MR-row panels ([p][MR]), MR × NR being the kernels' register tile; the
 * {@link FloatMatmulKernels#tile register tile} then reads both panels strictly sequentially. Why pack: the copies handle all four transpose combinations in one place, the
 * tile reads unit-stride heap arrays (no bounds or liveness checks per load), and the blocks are sized
 * for the cache (the comment at KC says how, per width). Packing costs O(mk + kn) per block against
 * O(mnk) arithmetic. Measured (one Zen 4 core, best of 2000, a 256×512 block of B in L2): the tile reads
 * packed heap panels at 112–116 GFLOP/s, and the same tile reading B straight from its off-heap segment
 * ({@code FloatVector.fromMemorySegment}, row stride 4096 floats) at 99–109 GFLOP/s; so we pack.
 *
 * <p>One-row products (a decode step) skip packing: they read the matrix once, straight from its
 * off-heap segment, which is what a memory-bound product wants.
 */
public final class FloatMatmul {
    /*
     * Cache blocking, by width (one choice per JVM, whatever the kernels: the scalar and vector tiles sum
     * the same KC-long runs, so they keep agreeing bit for bit).
     *
     * 512 bits: KC = 512, NC = 512, MC = 120 (10 tiles of 12 rows), and each A micro-panel (MR×KC, 24 KiB, in
     * L1) sweeps the whole KC×NC block of B (1 MiB, in L2). Chosen with the 12 × 2 tile on the AVX-512 Xeon
     * guest (2 MiB L2 a core; 3 Dec 2026, one thread, 512×1024·1024×4096, FloatMatmulTimer medians of 7,
     * GFLOP/s against a 208–221 peak): KC 256 / 512 / 768 with A outer 90.4 / 102.1 / 99.3 (MC 480: 89.3 / 98.1
     * / 99.0), with the B panel outer (B_IN_L1) 75.6 / 95.4 / 87.5. Fewer K blocks mean fewer passes of the
     * tile's read-add-write over c (8 MiB here, rows 16 KiB apart), which the tile alone does not pay: alone it
     * ran at 165–190 GFLOP/s (FloatMatmulTiles.tile12x2). On Zen 4 with the 4 × 4 tile it was KC = 256, MC = 128.
     *
     * Below 512 bits (measured on Zen 3: 32 KiB L1d, 512 KiB L2; BENCHMARKS.md, f19 section, 4×2 tile,
     * 512×1024·1024×4096 on one core, median GFLOP/s): the 512-bit order with Zen 3's L2 full of B ran
     * at 41.8; NC = 256 at 38.0; KC = 384, NC = 256 at 46.1. Swapping the two inner loops, so that one
     * B micro-panel (KC×NR) stays in L1 while the MC×KC block of A streams past it from L2, moves 4× less
     * data from L2 per FMA with a 4×2 tile (4 floats of A a step instead of 16 of B); with KC = 512 and
     * MC = 96 (a 32 KiB B panel, a 192 KiB A block) it measured 56.4 (KC = 384: 46.8; KC = 1024,
     * MC = 48: 50.1; KC = 512, MC = 192: 52.4). A longer KC also halves the tile's per-call cost (its
     * stores, and the add into c between K blocks).
     */
    static final boolean WIDE = Vectorization.BITS == 512;
    // -Dtern.matmul.kc/.nc/.mc/.bInL1 override the choice, for measuring others (tools/bench/FloatMatmulTimer).
    static final int KC = block("tern.matmul.kc", 512, 1);
    /** A whole number of the widest B panel (64 columns), so that an NC block holds whole panels at every width. */
    static final int NC = block("tern.matmul.nc", 512, 64);
    static final int MC = block("tern.matmul.mc", WIDE ? 120 : 96, 1);
    /** True: B micro-panel outer, held in L1 over the A block; false: A micro-panel outer. */
    static final boolean B_IN_L1 = Boolean.parseBoolean(System.getProperty("tern.matmul.bInL1", String.valueOf(!WIDE)));

    /** A block size from its system property or the default: a positive multiple of {@code unit}, else an error naming it. */
    private static int block(String property, int otherwise, int unit) {
        int v = Integer.getInteger(property, otherwise);
        if (v < unit || v % unit != 0)
            throw new IllegalArgumentException("-D" + property + "=" + v + ": must be " + (unit == 1 ? "positive" : "a positive multiple of " + unit));
        return v;
    }

    /** Multiply-adds a chunk of work should hold before it is worth a fork (a fork costs microseconds). */
    private static final long MIN_WORK = 1L << 18;

    private static final FloatMatmulKernels PREFERRED = KernelProvider.preferred().matmul();

    /** Per-thread packing buffers, grown on demand and reused across calls. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[4][0]);

    private FloatMatmul() {}

    /** Backend.matmul contract: c ← op(a)·op(b) (+c if accumulate). */
    public static void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, boolean accumulate) {
        matmul(PREFERRED, a, transA, b, transB, c, accumulate);
    }

    static void matmul(FloatMatmulKernels kernels, Tensor a, boolean transA, Tensor b, boolean transB,
                       Tensor c, boolean accumulate) {
        MatmulShape s = MatmulShape.of(a, transA, b, transB, c);
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        int m = s.m(), k = s.k(), n = s.n();
        if (m == 0 || n == 0) return;
        if (k == 0) {
            if (!accumulate) cs.fill((byte) 0);
            return;
        }
        if (m == 1) {
            // With one row, op(a) is a contiguous vector of k floats whatever transA says.
            int minChunk = (int) Math.max(16, MIN_WORK / k);
            if (transB) Parallel.range(n, minChunk, (j0, j1) -> kernels.matvecRows(as, bs, k, cs, j0, j1, accumulate));
            else Parallel.range(n, minChunk, (j0, j1) -> kernels.matvecCols(as, bs, k, n, cs, j0, j1, accumulate));
            return;
        }
        Operands o = new Operands(as, transA, bs, transB, cs, m, k, n);
        int nr = kernels.nr(), mr = kernels.mr();
        int mcMax = Math.max(mr, MC / mr * mr);   // whole tiles per row block
        int colTiles = (n + nr - 1) / nr, rowTiles = (m + mr - 1) / mr;
        // Split the dimension with more tiles, so each piece gets whole tiles and its own slice of c.
        boolean splitCols = colTiles >= rowTiles || colTiles >= 2 * Parallel.THREADS;
        float[][] scratch = SCRATCH.get();
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc), p0 = pc;
            boolean add = accumulate || pc > 0;
            if (splitCols) {
                // This K slab of op(a), every row, packed once and read by every piece.
                float[] ap = grow(scratch, 3, rowTiles * mr * kc);
                Parallel.shared((m + mcMax - 1) / mcMax, 1, (b0, b1) -> {
                    float[] line = line(SCRATCH.get(), nr, mr, mcMax);
                    for (int ic = b0 * mcMax; ic < Math.min(m, b1 * mcMax); ic += mcMax)
                        packA(kernels, o, ic, Math.min(mcMax, m - ic), p0, kc, mr, ap, ic * kc, line);
                });
                Parallel.shared(colTiles, grain(colTiles, 1, (long) m * kc * nr), (t0, t1) ->
                        colPiece(kernels, o, p0, kc, ap, t0 * nr, Math.min(n, t1 * nr), mcMax, add));
            } else {
                float[] bp = grow(scratch, 3, colTiles * nr * kc);
                int ncTiles = NC / nr;
                Parallel.shared(colTiles, ncTiles, (t0, t1) ->
                        packB(kernels, o, p0, kc, t0 * nr, Math.min(n, t1 * nr) - t0 * nr, nr, bp, t0 * nr * kc,
                                line(SCRATCH.get(), nr, mr, mcMax)));
                // Pieces of whole row blocks, so that a piece's A blocks are full ones.
                Parallel.shared(rowTiles, grain(rowTiles, mcMax / mr, (long) mr * kc * n), (t0, t1) ->
                        rowPiece(kernels, o, p0, kc, bp, t0 * mr, Math.min(m, t1 * mr), mcMax, add));
            }
        }
    }

    /**
     * Tiles per piece of a parallel split over {@code tiles} tiles: about four pieces a thread, so that a
     * thread that runs slower (a busy or slower core) takes fewer pieces instead of the whole call waiting
     * for its half; a multiple of {@code multiple}; and at least MIN_WORK multiply-adds a piece.
     */
    private static int grain(int tiles, int multiple, long workPerTile) {
        int g = (int) Math.max((tiles + 4L * Parallel.THREADS - 1) / (4L * Parallel.THREADS), (MIN_WORK + workPerTile - 1) / workPerTile);
        return (g + multiple - 1) / multiple * multiple;
    }

    /** The operands of one product, as segments with their logical sizes. */
    private record Operands(MemorySegment a, boolean transA, MemorySegment b, boolean transB, MemorySegment c,
                            int m, int k, int n) {}

    private static float[] line(float[][] scratch, int nr, int mr, int mcMax) {
        return grow(scratch, 2, Math.max(KC, Math.max(NC, mcMax)) + Math.max(nr, mr));
    }

    /** c[:, c0..c1) (+)= op(a)[:, pc..pc+kc) · op(b)[pc..pc+kc, c0..c1), A already packed (ap, all rows). */
    private static void colPiece(FloatMatmulKernels kernels, Operands o, int pc, int kc, float[] ap, int c0, int c1,
                                 int mcMax, boolean add) {
        int nr = kernels.nr(), mr = kernels.mr();
        float[][] scratch = SCRATCH.get();
        float[] bp = grow(scratch, 0, KC * (NC + nr));
        float[] line = line(scratch, nr, mr, mcMax);
        for (int jc = c0; jc < c1; jc += NC) {
            int nc = Math.min(NC, c1 - jc);
            packB(kernels, o, pc, kc, jc, nc, nr, bp, 0, line);
            for (int ic = 0; ic < o.m; ic += mcMax)
                tiles(kernels, o, ap, ic * kc, bp, 0, ic, Math.min(mcMax, o.m - ic), jc, nc, kc, add);
        }
    }

    /** c[r0..r1, :] (+)= op(a)[r0..r1, pc..pc+kc) · op(b)[pc..pc+kc, :], B already packed (bp, all columns). */
    private static void rowPiece(FloatMatmulKernels kernels, Operands o, int pc, int kc, float[] bp, int r0, int r1,
                                 int mcMax, boolean add) {
        int nr = kernels.nr(), mr = kernels.mr();
        float[][] scratch = SCRATCH.get();
        float[] ap = grow(scratch, 1, KC * (mcMax + mr));
        float[] line = line(scratch, nr, mr, mcMax);
        for (int ic = r0; ic < r1; ic += mcMax) {
            int mc = Math.min(mcMax, r1 - ic);
            packA(kernels, o, ic, mc, pc, kc, mr, ap, 0, line);
            for (int jc = 0; jc < o.n; jc += NC)
                tiles(kernels, o, ap, 0, bp, jc * kc, ic, mc, jc, Math.min(NC, o.n - jc), kc, add);
        }
    }

    /**
     * The register tiles of c[ic..ic+mc, jc..jc+nc) from one packed A block (mc rows from ap[apAt..]) and
     * one packed B block (nc columns from bp[bpAt..]), in the loop order of {@link #B_IN_L1}.
     */
    private static void tiles(FloatMatmulKernels kernels, Operands o, float[] ap, int apAt, float[] bp, int bpAt,
                              int ic, int mc, int jc, int nc, int kc, boolean add) {
        int nr = kernels.nr(), mr = kernels.mr();
        if (B_IN_L1) {
            for (int jr = 0; jr < nc; jr += nr) {
                int cols = Math.min(nr, nc - jr);
                for (int ir = 0; ir < mc; ir += mr)
                    kernels.tile(ap, apAt + ir * kc, bp, bpAt + jr * kc, kc, o.c,
                            (long) (ic + ir) * o.n + jc + jr, o.n, Math.min(mr, mc - ir), cols, add);
            }
        } else {
            for (int ir = 0; ir < mc; ir += mr) {
                int rows = Math.min(mr, mc - ir);
                for (int jr = 0; jr < nc; jr += nr)
                    kernels.tile(ap, apAt + ir * kc, bp, bpAt + jr * kc, kc, o.c,
                            (long) (ic + ir) * o.n + jc + jr, o.n, rows, Math.min(nr, nc - jr), add);
            }
        }
    }

    private static float[] grow(float[][] scratch, int i, int size) {
        if (scratch[i].length < size) scratch[i] = new float[size];
        return scratch[i];
    }

    /** bp[at + (panel·kc + p)·nr + j] ← op(b)[pc + p][jc + panel·nr + j], zero past column nc. */
    private static void packB(FloatMatmulKernels kernels, Operands o, int pc, int kc, int jc, int nc, int nr, float[] bp, int at,
                              float[] line) {
        int panels = (nc + nr - 1) / nr;
        if (!o.transB) {
            // Rows of b are contiguous along j: copy each row's slice, then cut it into panels. (Here p stays
            // outside: a piece of a panel row is a whole 64-byte line, and one panel at a time, p inside, reads
            // kc rows n floats apart: `tern bench kernels` 59–62 % of peak against 76 % at n = 4096.)
            for (int p = 0; p < kc; p++) {
                MemorySegment.copy(o.b, ValueLayout.JAVA_FLOAT, ((long) (pc + p) * o.n + jc) * Float.BYTES, line, 0, nc);
                java.util.Arrays.fill(line, nc, panels * nr, 0f);
                for (int q = 0; q < panels; q++) System.arraycopy(line, q * nr, bp, at + (q * kc + p) * nr, nr);
            }
        } else {
            // b is [n, k]: row j of b is column j of op(b), contiguous along p.
            for (int j = 0; j < panels * nr; j++) {
                int q = j / nr, jj = j % nr, base = at + q * kc * nr + jj;
                if (j < nc) {
                    MemorySegment.copy(o.b, ValueLayout.JAVA_FLOAT, ((long) (jc + j) * o.k + pc) * Float.BYTES, line, 0, kc);
                    for (int p = 0; p < kc; p++) bp[base + p * nr] = line[p];
                } else {
                    for (int p = 0; p < kc; p++) bp[base + p * nr] = 0f;
                }
            }
        }
    }

    /** ap[at + (panel·kc + p)·mr + r] ← op(a)[ic + panel·mr + r][pc + p], zero past row mc. */
    private static void packA(FloatMatmulKernels kernels, Operands o, int ic, int mc, int pc, int kc, int mr, float[] ap, int at,
                              float[] line) {
        int panels = (mc + mr - 1) / mr;
        if (!o.transA) {
            int i = 0;
            if (mr == 4)   // whole 4-row panels in one pass each (the kernels' packRows4), the ragged one below
                for (; i + 4 <= mc; i += 4) kernels.packRows4(o.a, (long) (ic + i) * o.k + pc, o.k, kc, ap, at + (i / 4) * kc * 4);
            else
                for (; i + mr <= mc; i += mr) kernels.packRows(o.a, (long) (ic + i) * o.k + pc, o.k, mr, kc, ap, at + (i / mr) * kc * mr, line);
            for (; i < panels * mr; i++) {
                int base = at + (i / mr) * kc * mr + i % mr;
                if (i < mc) {
                    MemorySegment.copy(o.a, ValueLayout.JAVA_FLOAT, ((long) (ic + i) * o.k + pc) * Float.BYTES, line, 0, kc);
                    for (int p = 0; p < kc; p++) ap[base + p * mr] = line[p];
                } else {
                    for (int p = 0; p < kc; p++) ap[base + p * mr] = 0f;
                }
            }
        } else {
            // a is [k, m]: row p of a holds op(a)[·][p] contiguous along i. Whole panels one at a time, p
            // inside, so each panel is written in order: with p outside, row p's 4-float pieces of every panel
            // are kc·4 floats apart, a quarter line each, evicted before the rest of the line is written (the
            // dW products, aᵀ·b, 2 threads: 91–105 → 139–149 GFLOP/s). The ragged last panel through a padded line.
            int whole = mc / mr;
            for (int q = 0; q < whole; q++)
                kernels.packPanel(o.a, (long) pc * o.m + ic + (long) mr * q, o.m, kc, mr, ap, at + q * kc * mr);
            if (whole < panels)
                for (int p = 0; p < kc; p++) {
                    MemorySegment.copy(o.a, ValueLayout.JAVA_FLOAT, ((long) (pc + p) * o.m + ic + (long) whole * mr) * Float.BYTES,
                            line, 0, mc - whole * mr);
                    java.util.Arrays.fill(line, mc - whole * mr, mr, 0f);
                    System.arraycopy(line, 0, ap, at + whole * kc * mr + p * mr, mr);
                }
        }
    }
}
