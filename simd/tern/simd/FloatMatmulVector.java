package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vector API kernels of {@link FloatMatmul}. The register tile is chosen per width in {@link FloatMatmulTiles}
 * (12 rows × 2 vectors at 512 bits, 4 × 2 below), which says why; the packed panels follow its shape. On
 * Zen 4 the 512-bit tile was 4 × 4 (16 accumulators, one 512-bit FMA a cycle); on a core with two 512-bit FMA
 * ports that tile ran at 57 % of the core's peak on its own, 12 × 2 at 79–90 % (3 Dec 2026).
 */
final class FloatMatmulVector implements FloatMatmulKernels {
    static final FloatMatmulVector INSTANCE = new FloatMatmulVector();

    private static final VectorSpecies<Float> F = Species.F;
    private static final int L = F.length();
    static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** The register tile at this width, rows × vectors of columns (see {@link FloatMatmulTiles}). */
    static final int TILE_ROWS = FloatMatmulTiles.ROWS, TILE_VECTORS = FloatMatmulTiles.VECTORS;
    private static final int NR = TILE_VECTORS * L;
    /** Columns of one pass of {@link #matvecCols}: 4 vectors. */
    private static final int W4 = 4 * L;

    private FloatMatmulVector() {}

    @Override public int mr() { return TILE_ROWS; }

    @Override public int nr() { return NR; }

    @Override
    public void tile(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                     MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        // TILE_ROWS is a static final: C2 folds this choice away.
        if (TILE_ROWS == 12) FloatMatmulTiles.tile12x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else FloatMatmulTiles.tile4x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
    }

    /** Writes (or adds) the rows × cols corner of a tile spilled to t (row stride nr) into c. */
    static void corner(float[] t, int nr, MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) {
                long at = cOff + (long) r * ldc + j;
                float v = t[r * nr + j];
                c.setAtIndex(ValueLayout.JAVA_FLOAT, at, add ? c.getAtIndex(ValueLayout.JAVA_FLOAT, at) + v : v);
            }
    }

    // The 4 × 8 transpose of packRows4 at 256 bits: LO/HI interleave lanes 0–3 / 4–7 of two rows (x, y) as
    // x0 y0 x1 y1 …; Q0/Q1 then take pairs from two such interleavings, giving r0 r1 r2 r3 of one p per 4 lanes.
    private static final jdk.incubator.vector.VectorShuffle<Float> LO = L == 8 ? shuffle(0, 8, 1, 9, 2, 10, 3, 11) : null;
    private static final jdk.incubator.vector.VectorShuffle<Float> HI = L == 8 ? shuffle(4, 12, 5, 13, 6, 14, 7, 15) : null;
    private static final jdk.incubator.vector.VectorShuffle<Float> Q0 = L == 8 ? shuffle(0, 1, 8, 9, 2, 3, 10, 11) : null;
    private static final jdk.incubator.vector.VectorShuffle<Float> Q1 = L == 8 ? shuffle(4, 5, 12, 13, 6, 7, 14, 15) : null;

    private static jdk.incubator.vector.VectorShuffle<Float> shuffle(int... lanes) {
        return jdk.incubator.vector.VectorShuffle.fromValues(F, lanes);
    }

    /**
     * At 256 bits, 8 steps of p at a time: four row loads, eight two-vector rearranges, four stores, where the
     * plain loop does 32 scalar loads and stores (the packing of op(a) was 10 % of the 10M training step's JFR
     * samples, line by line in the scalar scatter; alone, 96 rows × 512: 0.25 ns a float against 0.67 for the
     * loop it replaces and 0.48 for the default). Other widths, and the last kc mod 8 steps, take the default.
     */
    @Override
    public void packRows4(MemorySegment a, long from, long lda, int kc, float[] ap, int at) {
        if (L != 8) {
            FloatMatmulKernels.super.packRows4(a, from, lda, kc, ap, at);
            return;
        }
        long r0 = from * Float.BYTES, r1 = r0 + lda * Float.BYTES, r2 = r1 + lda * Float.BYTES, r3 = r2 + lda * Float.BYTES;
        int p = 0;
        for (; p + L <= kc; p += L) {
            long off = (long) p * Float.BYTES;
            FloatVector x0 = FloatVector.fromMemorySegment(F, a, r0 + off, ORDER), x1 = FloatVector.fromMemorySegment(F, a, r1 + off, ORDER);
            FloatVector x2 = FloatVector.fromMemorySegment(F, a, r2 + off, ORDER), x3 = FloatVector.fromMemorySegment(F, a, r3 + off, ORDER);
            FloatVector t0 = x0.rearrange(LO, x1), t1 = x0.rearrange(HI, x1), u0 = x2.rearrange(LO, x3), u1 = x2.rearrange(HI, x3);
            int o = at + 4 * p;
            t0.rearrange(Q0, u0).intoArray(ap, o);
            t0.rearrange(Q1, u0).intoArray(ap, o + L);
            t1.rearrange(Q0, u1).intoArray(ap, o + 2 * L);
            t1.rearrange(Q1, u1).intoArray(ap, o + 3 * L);
        }
        if (p < kc) FloatMatmulKernels.super.packRows4(a, from + p, lda, kc - p, ap, at + 4 * p);
    }

    /** Lane j of a row's vector goes to ap[j·mr]: the scatter map of {@link #packRows} for the 12-row panels. */
    private static final int[] STRIDE12 = java.util.stream.IntStream.range(0, L).map(j -> 12 * j).toArray();

    /**
     * The 512-bit tile's 12-row panels: each row's vector of L steps scattered into the panel in one store
     * (stride 12), where the default copies the row out and spreads it float by float. Other heights, and the
     * last kc mod L steps, take the default's way. Measured (2 threads, FloatMatmulTimer medians, one hold, this
     * against the default between two runs of it): the 10M products that pack op(a) = a, 4096×256·(768×256)ᵀ,
     * 4096×768·(256×768)ᵀ, 4096×768·768×256, 224 / 213, 168 / 160, 178 / 162 GFLOP/s against 203, 152, 156.
     */
    @Override
    public void packRows(MemorySegment a, long from, long lda, int mr, int kc, float[] ap, int at, float[] line) {
        if (mr != 12) {
            FloatMatmulKernels.super.packRows(a, from, lda, mr, kc, ap, at, line);
            return;
        }
        int whole = kc - kc % L;
        for (int r = 0; r < 12; r++) {
            long row = (from + r * lda) * Float.BYTES;
            for (int p = 0; p < whole; p += L)
                FloatVector.fromMemorySegment(F, a, row + (long) p * Float.BYTES, ORDER).intoArray(ap, at + 12 * p + r, STRIDE12, 0);
            for (int p = whole; p < kc; p++) ap[at + 12 * p + r] = a.getAtIndex(ValueLayout.JAVA_FLOAT, from + r * lda + p);
        }
    }

    private static final VectorSpecies<Float> F128 = FloatVector.SPECIES_128;

    /** Runs of whole vectors: L lanes where w is a multiple of L (B panels), 4 lanes for w = 4 (aᵀ's A panels below 512 bits), a masked vector for other w < L. */
    @Override
    public void packPanel(MemorySegment src, long from, long stride, int kc, int w, float[] dst, int at) {
        if (w % L == 0) {
            for (int p = 0; p < kc; p++) {
                long s = (from + p * stride) * Float.BYTES;
                for (int j = 0; j < w; j += L)
                    FloatVector.fromMemorySegment(F, src, s + (long) j * Float.BYTES, ORDER).intoArray(dst, at + p * w + j);
            }
        } else if (w == 4) {
            for (int p = 0; p < kc; p++)
                FloatVector.fromMemorySegment(F128, src, (from + p * stride) * Float.BYTES, ORDER).intoArray(dst, at + 4 * p);
        } else if (w < L) {
            // The 512-bit tile's 12-row panels of aᵀ: one masked load and store a step (never reads past the run).
            VectorMask<Float> m = F.indexInRange(0, w);
            for (int p = 0; p < kc; p++)
                FloatVector.fromMemorySegment(F, src, (from + p * stride) * Float.BYTES, ORDER, m).intoArray(dst, at + p * w, m);
        } else FloatMatmulKernels.super.packPanel(src, from, stride, kc, w, dst, at);
    }

    static FloatVector ld(MemorySegment c, long element) {
        return FloatVector.fromMemorySegment(F, c, element * Float.BYTES, ORDER);
    }

    static void st(FloatVector v, MemorySegment c, long element) {
        v.intoMemorySegment(c, element * Float.BYTES, ORDER);
    }

    /** Writes (or adds) lanes of v to c[row + j ..], only those before column {@code cols}. */
    private static void store(MemorySegment c, long row, int j, int cols, boolean add, FloatVector v) {
        if (j >= cols) return;
        long at = (row + j) * Float.BYTES;
        if (j + L <= cols) {
            if (add) v = FloatVector.fromMemorySegment(F, c, at, ORDER).add(v);
            v.intoMemorySegment(c, at, ORDER);
        } else {
            VectorMask<Float> m = F.indexInRange(j, cols);
            if (add) v = FloatVector.fromMemorySegment(F, c, at, ORDER, m).add(v);
            v.intoMemorySegment(c, at, ORDER, m);
        }
    }

    @Override
    public void matvecRows(MemorySegment x, MemorySegment w, int k, MemorySegment y, int j0, int j1, boolean add) {
        int kv = k - k % L;
        int j = j0;
        // Four rows at a time: four independent accumulator chains (FMA latency), one load of x shared.
        for (; j + 4 <= j1; j += 4) {
            long r0 = (long) j * k * Float.BYTES, r1 = r0 + (long) k * Float.BYTES;
            long r2 = r1 + (long) k * Float.BYTES, r3 = r2 + (long) k * Float.BYTES;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int p = 0; p < kv; p += L) {
                long o = (long) p * Float.BYTES;
                FloatVector xv = FloatVector.fromMemorySegment(F, x, o, ORDER);
                s0 = xv.fma(FloatVector.fromMemorySegment(F, w, r0 + o, ORDER), s0);
                s1 = xv.fma(FloatVector.fromMemorySegment(F, w, r1 + o, ORDER), s1);
                s2 = xv.fma(FloatVector.fromMemorySegment(F, w, r2 + o, ORDER), s2);
                s3 = xv.fma(FloatVector.fromMemorySegment(F, w, r3 + o, ORDER), s3);
            }
            put(y, j, add, VectorSums.sum(s0) + tailDot(x, w, j, k, kv));
            put(y, j + 1, add, VectorSums.sum(s1) + tailDot(x, w, j + 1, k, kv));
            put(y, j + 2, add, VectorSums.sum(s2) + tailDot(x, w, j + 2, k, kv));
            put(y, j + 3, add, VectorSums.sum(s3) + tailDot(x, w, j + 3, k, kv));
        }
        for (; j < j1; j++) {
            long r = (long) j * k * Float.BYTES;
            FloatVector s = FloatVector.zero(F);
            for (int p = 0; p < kv; p += L) {
                long o = (long) p * Float.BYTES;
                s = FloatVector.fromMemorySegment(F, x, o, ORDER).fma(FloatVector.fromMemorySegment(F, w, r + o, ORDER), s);
            }
            put(y, j, add, VectorSums.sum(s) + tailDot(x, w, j, k, kv));
        }
    }

    private static float tailDot(MemorySegment x, MemorySegment w, int j, int k, int from) {
        float acc = 0;
        for (int p = from; p < k; p++)
            acc = Math.fma(x.getAtIndex(ValueLayout.JAVA_FLOAT, p), w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) j * k + p), acc);
        return acc;
    }

    private static void put(MemorySegment y, int j, boolean add, float v) {
        y.setAtIndex(ValueLayout.JAVA_FLOAT, j, add ? y.getAtIndex(ValueLayout.JAVA_FLOAT, j) + v : v);
    }

    @Override
    public void matvecCols(MemorySegment x, MemorySegment b, int k, int n, MemorySegment y, int j0, int j1, boolean add) {
        int j = j0;
        // 4 vectors of columns per pass down the rows of b: 4 independent chains, one broadcast of x[p].
        for (; j + W4 <= j1; j += W4) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int p = 0; p < k; p++) {
                FloatVector xp = FloatVector.broadcast(F, x.getAtIndex(ValueLayout.JAVA_FLOAT, p));
                long o = ((long) p * n + j) * Float.BYTES;
                s0 = xp.fma(FloatVector.fromMemorySegment(F, b, o, ORDER), s0);
                s1 = xp.fma(FloatVector.fromMemorySegment(F, b, o + (long) L * Float.BYTES, ORDER), s1);
                s2 = xp.fma(FloatVector.fromMemorySegment(F, b, o + 2L * L * Float.BYTES, ORDER), s2);
                s3 = xp.fma(FloatVector.fromMemorySegment(F, b, o + 3L * L * Float.BYTES, ORDER), s3);
            }
            store(y, j, 0, j1 - j, add, s0);
            store(y, j, L, j1 - j, add, s1);
            store(y, j, 2 * L, j1 - j, add, s2);
            store(y, j, 3 * L, j1 - j, add, s3);
        }
        for (; j < j1; j += L) {
            VectorMask<Float> m = F.indexInRange(j, j1);
            FloatVector s = FloatVector.zero(F);
            for (int p = 0; p < k; p++) {
                FloatVector xp = FloatVector.broadcast(F, x.getAtIndex(ValueLayout.JAVA_FLOAT, p));
                s = xp.fma(FloatVector.fromMemorySegment(F, b, ((long) p * n + j) * Float.BYTES, ORDER, m), s);
            }
            store(y, j, 0, j1 - j, add, s);
        }
    }

    /**
     * 12 independent FMA chains: with a 4-cycle latency and up to 2 FMA issues per cycle, 8 chains are the
     * least that saturate the FMA pipes; 12 leave a margin (and with m and c fit AVX2's 16 registers).
     * Each chain is {@code acc ← m·c + acc}, the accumulator as the addend, the form of the matmul tile:
     * C2 compiles it to one {@code vfmadd231ps acc, m, c}. The form {@code acc ← acc·m + c} cost C2 a
     * register copy per FMA and measured 55–65 GFLOP/s on one Zen 3 core where this form and a C loop
     * of the same 12 chains (gcc -O2 -mavx2 -mfma) both reach 82–90: the probe must not be the slower one.
     */
    @Override
    public double[] fmaBurst(long steps) {
        // 1e-3·1e-3 added 1e6·steps/1e6 times: the sums stay normal and finite for any burst we run.
        FloatVector m = FloatVector.broadcast(F, 1e-3f), c = FloatVector.broadcast(F, 1e-3f);
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        FloatVector a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < steps; i++) {
            a0 = m.fma(c, a0); a1 = m.fma(c, a1); a2 = m.fma(c, a2); a3 = m.fma(c, a3);
            a4 = m.fma(c, a4); a5 = m.fma(c, a5); a6 = m.fma(c, a6); a7 = m.fma(c, a7);
            a8 = m.fma(c, a8); a9 = m.fma(c, a9); a10 = m.fma(c, a10); a11 = m.fma(c, a11);
        }
        FloatVector sum = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11);
        return new double[] {2.0 * 12 * L * steps, VectorSums.sum(sum)};
    }
}
