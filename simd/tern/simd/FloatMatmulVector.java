package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vector API kernels of {@link FloatMatmul}. The tile is MR = 4 rows × 4 vectors (64 columns with
 * AVX-512): 16 independent accumulators. Why 16: an FMA has a latency of about 4 cycles and the core
 * can start one 512-bit FMA per cycle, so at least 4 chains must be in flight; 16 leaves room for the
 * loads, and per step of p the tile does 16 FMAs for only 4 vector loads of B and 4 broadcasts of A,
 * which keeps the load ports below the FMA rate. 16 accumulators + 4 B vectors + 1 broadcast fit the 32
 * vector registers without spills.
 *
 * <p>That is the 512-bit tile. Below 512 bits (16 registers on x86) the tile is 4 rows × 2 vectors,
 * {@link FloatMatmulTiles}, which says why; the packed B panels follow the tile's width.
 */
final class FloatMatmulVector implements FloatMatmulKernels {
    static final FloatMatmulVector INSTANCE = new FloatMatmulVector();

    private static final VectorSpecies<Float> F = Species.F;
    private static final int L = F.length();
    static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** The register tile at this width, rows × vectors of columns (see {@link FloatMatmulTiles}). */
    static final int TILE_ROWS = FloatMatmulTiles.ROWS, TILE_VECTORS = FloatMatmulTiles.VECTORS;
    private static final int NR = TILE_VECTORS * L;
    /** Rows of the 4 × 4 tile, the one this class holds (the 512-bit tile). */
    private static final int MR = 4;
    /** Columns of the 4 × 4 tile and of one pass of {@link #matvecCols}: 4 vectors. */
    private static final int W4 = 4 * L;

    private FloatMatmulVector() {}

    @Override public int mr() { return TILE_ROWS; }

    @Override public int nr() { return NR; }

    @Override
    public void tile(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                     MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        // TILE_VECTORS is a static final: C2 folds this choice away.
        if (TILE_VECTORS == 4) tile4x4(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else FloatMatmulTiles.tile4x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
    }

    /** The 4-row × 4-vector tile: 16 accumulators, for 32 vector registers. */
    private static void tile4x4(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        // Indices as linear functions of p, as in FloatMatmulTiles.tile4x2, so that C2 hoists the bounds
        // checks of the eight loads out of the loop: the tile alone on one Zen 4 core (a 128×kc A block
        // against four kc×64 B panels, kc 256 / 1024) 114–117 / 116 GFLOP/s against 106–109 / 98–102 with
        // `a += MR, b += W4` (3 Dec 2026, BENCHMARKS.md "The 512-bit tile's bounds checks").
        for (int p = 0; p < kc; p++) {
            int a = apOff + MR * p, b = bpOff + W4 * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b);
            FloatVector b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector b2 = FloatVector.fromArray(F, bp, b + 2 * L);
            FloatVector b3 = FloatVector.fromArray(F, bp, b + 3 * L);
            FloatVector a0 = FloatVector.broadcast(F, ap[a]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01); c02 = a0.fma(b2, c02); c03 = a0.fma(b3, c03);
            FloatVector a1 = FloatVector.broadcast(F, ap[a + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11); c12 = a1.fma(b2, c12); c13 = a1.fma(b3, c13);
            FloatVector a2 = FloatVector.broadcast(F, ap[a + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21); c22 = a2.fma(b2, c22); c23 = a2.fma(b3, c23);
            FloatVector a3 = FloatVector.broadcast(F, ap[a + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31); c32 = a3.fma(b2, c32); c33 = a3.fma(b3, c33);
        }
        if (rows == MR && cols == W4) {
            // Full tile, the common case: straight-line loads and stores that C2 keeps in registers (a
            // store helper taking vectors as arguments is not inlined and would box all 16).
            long r0 = cOff, r1 = r0 + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
            if (add) {
                c00 = c00.add(ld(c, r0)); c01 = c01.add(ld(c, r0 + L)); c02 = c02.add(ld(c, r0 + 2 * L)); c03 = c03.add(ld(c, r0 + 3 * L));
                c10 = c10.add(ld(c, r1)); c11 = c11.add(ld(c, r1 + L)); c12 = c12.add(ld(c, r1 + 2 * L)); c13 = c13.add(ld(c, r1 + 3 * L));
                c20 = c20.add(ld(c, r2)); c21 = c21.add(ld(c, r2 + L)); c22 = c22.add(ld(c, r2 + 2 * L)); c23 = c23.add(ld(c, r2 + 3 * L));
                c30 = c30.add(ld(c, r3)); c31 = c31.add(ld(c, r3 + L)); c32 = c32.add(ld(c, r3 + 2 * L)); c33 = c33.add(ld(c, r3 + 3 * L));
            }
            st(c00, c, r0); st(c01, c, r0 + L); st(c02, c, r0 + 2 * L); st(c03, c, r0 + 3 * L);
            st(c10, c, r1); st(c11, c, r1 + L); st(c12, c, r1 + 2 * L); st(c13, c, r1 + 3 * L);
            st(c20, c, r2); st(c21, c, r2 + L); st(c22, c, r2 + 2 * L); st(c23, c, r2 + 3 * L);
            st(c30, c, r3); st(c31, c, r3 + L); st(c32, c, r3 + 2 * L); st(c33, c, r3 + 3 * L);
            return;
        }
        // Edge tile (ragged rows or columns): spill to an array, then write only the valid corner.
        float[] t = new float[MR * W4];
        c00.intoArray(t, 0); c01.intoArray(t, L); c02.intoArray(t, 2 * L); c03.intoArray(t, 3 * L);
        c10.intoArray(t, W4); c11.intoArray(t, W4 + L); c12.intoArray(t, W4 + 2 * L); c13.intoArray(t, W4 + 3 * L);
        c20.intoArray(t, 2 * W4); c21.intoArray(t, 2 * W4 + L); c22.intoArray(t, 2 * W4 + 2 * L); c23.intoArray(t, 2 * W4 + 3 * L);
        c30.intoArray(t, 3 * W4); c31.intoArray(t, 3 * W4 + L); c32.intoArray(t, 3 * W4 + 2 * L); c33.intoArray(t, 3 * W4 + 3 * L);
        corner(t, W4, c, cOff, ldc, rows, cols, add);
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

    private static final VectorSpecies<Float> F128 = FloatVector.SPECIES_128;

    /** Runs of whole vectors: L lanes where w is a multiple of L (B panels), 4 lanes for w = 4 (aᵀ's A panels). */
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
