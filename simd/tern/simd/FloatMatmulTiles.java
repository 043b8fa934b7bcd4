package tern.simd;

import static tern.simd.FloatMatmulVector.corner;
import static tern.simd.FloatMatmulVector.ld;
import static tern.simd.FloatMatmulVector.st;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * The float matmul's register tiles: below 512 bits 4 rows × 2 vectors (4×16 floats with AVX2, 4×8 at 128
 * bits), at 512 bits 12 rows × 2 vectors; and the choice of tile per width. Loaded only when {@link Vectorization#ENABLED}.
 *
 * <p>Why 4 × 2, measured on one Zen 3 core (AVX2: 16 ymm registers, two 256-bit FMA pipes of 4-cycle
 * latency, so at least 8 independent accumulators), 512×1024·1024×4096, GFLOP/s against an 82–93
 * measured peak (BENCHMARKS.md, f19 section): 4×4 (16 accumulators) 22.5; 6×2 25.4; 4×3 24.7; 5×2 23.5;
 * 8×1 35.2; 3×2 39.2; 3×3 37.3; 4×2 43.3. Every tile of 10 or more accumulators lost to C2's register
 * allocator: its scheduler loads several broadcasts of A ahead, runs out of the 16 registers and
 * spills two accumulators to the stack, putting a store and a reload into their FMA chains (seen in
 * the compiled 6×2 and 4×3 loops). 4×2 holds 8 accumulators, 2 vectors of B and a broadcast: 8 FMAs
 * (the least that hide the latency at two a cycle) per 2 loads of B and 4 broadcasts, inside the 3
 * loads a cycle Zen 3 can issue. 8×1 has no spills but needs 9 loads per 8 FMAs; 3×2 has 6 chains,
 * too few. Unrolling the loop over p by two (by hand: C2 does not unroll this loop) measured 33.1
 * against 41.8, the spills again. 128 bits on x86 has the same 16 registers, so the same tile.
 * At 512 bits (AVX-512: 32 registers) the tile is 12 × 2, {@link #tile12x2}.
 *
 * <p>Re-measured with every tile in the linear-index form below (whose bounds checks C2 hoists, so no
 * register goes to them), 3 Dec 2026 (m19b): the tile alone on one Zen 3 core, a 96×512 A block against one
 * 512×NR B panel in L1, `tools/bench/TileBench.java 512`: 4×2 94.2 GFLOP/s (about the core's FMA peak),
 * 3×3 83.7, 6×2 43.0, 4×3 40.3, 5×2 35.8. The 12- and 10-accumulator tiles still lose half their rate, so
 * hoisting the checks did not free the registers they need; 4×2 stays.
 */
final class FloatMatmulTiles {
    private static final VectorSpecies<Float> F = Species.F;
    private static final int L = F.length();

    /** The tile at this width: ROWS rows × VECTORS vectors (12 × 2 at 512 bits: {@link #tile12x2} says why). */
    static final int ROWS = Vectorization.BITS == 512 ? 12 : 4, VECTORS = 2;

    private static final int NR = VECTORS * L;
    /** Columns of the 12 × 2 tile's B panels. */
    private static final int NR12 = 2 * L;

    private FloatMatmulTiles() {}

    /**
     * c[rows × cols] (+)= Ap · Bp over kc steps with 8 accumulators: the same contract and the same order
     * of fused multiply-adds per output element as {@link FloatMatmulKernels#tile}.
     */
    static void tile4x2(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        // The indices as linear functions of p (not induction variables of their own): that is the form in
        // which C2's range-check elimination hoists the bounds checks of the six loads out of the loop;
        // with `a += 4, b += NR` they stayed in it, six compares and branches per 8 FMAs (one core,
        // 512×1024·1024×4096, same JVM pairs: 67.1 / 58.8 GFLOP/s against 47.1 / 50.8; BENCHMARKS.md, m19).
        for (int p = 0; p < kc; p++) {
            int a = apOff + 4 * p, b = bpOff + NR * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b); FloatVector b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        if (rows == 4 && cols == NR) {
            if (add) {
                c00 = c00.add(ld(c, cOff)); c01 = c01.add(ld(c, cOff + L));
                c10 = c10.add(ld(c, cOff + 1L * ldc)); c11 = c11.add(ld(c, cOff + 1L * ldc + L));
                c20 = c20.add(ld(c, cOff + 2L * ldc)); c21 = c21.add(ld(c, cOff + 2L * ldc + L));
                c30 = c30.add(ld(c, cOff + 3L * ldc)); c31 = c31.add(ld(c, cOff + 3L * ldc + L));
            }
            st(c00, c, cOff); st(c01, c, cOff + L);
            st(c10, c, cOff + 1L * ldc); st(c11, c, cOff + 1L * ldc + L);
            st(c20, c, cOff + 2L * ldc); st(c21, c, cOff + 2L * ldc + L);
            st(c30, c, cOff + 3L * ldc); st(c31, c, cOff + 3L * ldc + L);
            return;
        }
        float[] t = new float[4 * NR];
        c00.intoArray(t, 0 * NR + 0 * L); c01.intoArray(t, 0 * NR + 1 * L);
        c10.intoArray(t, 1 * NR + 0 * L); c11.intoArray(t, 1 * NR + 1 * L);
        c20.intoArray(t, 2 * NR + 0 * L); c21.intoArray(t, 2 * NR + 1 * L);
        c30.intoArray(t, 3 * NR + 0 * L); c31.intoArray(t, 3 * NR + 1 * L);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }

    /**
     * The 512-bit tile, 12 rows × 2 vectors (12 × 32 floats): 24 accumulators, 2 vectors of B and one broadcast of
     * A, 27 of the 32 registers. Per step of p: 24 FMAs for 2 vector loads and 12 broadcasts. Why this shape, measured on the AVX-512 Xeon guest of 3 Dec 2026 (two 512-bit FMA ports a core,
     * 210 GFLOP/s measured peak on one thread), the tile alone on one core, a 168×256 A block against 768
     * columns of B in 256-step panels (/tmp TileProbe2, best of 200 sweeps, two rounds each): 4 × 4 (the tile
     * before, 16 accumulators) 120–124 GFLOP/s, 6 × 4 155–160, 8 × 3 142–165, 14 × 2 158–179, 12 × 2 165–190. The
     * 4 × 4 tile needs 4 vector loads of B per 16 FMAs: at two FMAs a cycle that is 32 bytes a cycle streamed from L2
     * (the B block's home), apparently more than the core sustains; 12 × 2 needs 128 bytes per 24 FMAs. Same contract, and per output element the
     * same FMAs in the same order, as {@link FloatMatmulKernels#tile}.
     */
    static void tile12x2(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                         MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        float[] t = TILE.get();
        sums12x2(ap, apOff, bp, bpOff, kc, t);
        if (rows == 12 && cols == NR12) {
            for (int r = 0; r < 12; r++) {
                long row = cOff + (long) r * ldc;
                FloatVector v0 = FloatVector.fromArray(F, t, r * NR12), v1 = FloatVector.fromArray(F, t, r * NR12 + L);
                if (add) { v0 = v0.add(ld(c, row)); v1 = v1.add(ld(c, row + L)); }
                st(v0, c, row); st(v1, c, row + L);
            }
        } else corner(t, NR12, c, cOff, ldc, rows, cols, add);   // edge tile: only the valid corner
    }

    /**
     * The 12 × 2 tile's sums over kc steps into t [12][NR12], its own compiled method: with c's segment loads and
     * stores in the same method, the 24 accumulators' code took it past C2's inlining node budget
     * (NodeCountInliningCutoff, seen with -XX:+PrintInlining): the segment accesses stayed calls
     * (ScopedMemoryAccess.loadFromMemorySegmentScopedInternal and checkIndex, 9 % of the 10M step's JFR samples).
     */
    private static void sums12x2(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] t) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        FloatVector c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
        // Indices linear in p (the form whose bounds checks C2 hoists: tile4x2's comment).
        for (int p = 0; p < kc; p++) {
            int a = apOff + 12 * p, b = bpOff + NR12 * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x0 = FloatVector.broadcast(F, ap[a + 0]); c00 = x0.fma(b0, c00); c01 = x0.fma(b1, c01);
            FloatVector x1 = FloatVector.broadcast(F, ap[a + 1]); c10 = x1.fma(b0, c10); c11 = x1.fma(b1, c11);
            FloatVector x2 = FloatVector.broadcast(F, ap[a + 2]); c20 = x2.fma(b0, c20); c21 = x2.fma(b1, c21);
            FloatVector x3 = FloatVector.broadcast(F, ap[a + 3]); c30 = x3.fma(b0, c30); c31 = x3.fma(b1, c31);
            FloatVector x4 = FloatVector.broadcast(F, ap[a + 4]); c40 = x4.fma(b0, c40); c41 = x4.fma(b1, c41);
            FloatVector x5 = FloatVector.broadcast(F, ap[a + 5]); c50 = x5.fma(b0, c50); c51 = x5.fma(b1, c51);
            FloatVector x6 = FloatVector.broadcast(F, ap[a + 6]); c60 = x6.fma(b0, c60); c61 = x6.fma(b1, c61);
            FloatVector x7 = FloatVector.broadcast(F, ap[a + 7]); c70 = x7.fma(b0, c70); c71 = x7.fma(b1, c71);
            FloatVector x8 = FloatVector.broadcast(F, ap[a + 8]); c80 = x8.fma(b0, c80); c81 = x8.fma(b1, c81);
            FloatVector x9 = FloatVector.broadcast(F, ap[a + 9]); c90 = x9.fma(b0, c90); c91 = x9.fma(b1, c91);
            FloatVector xa = FloatVector.broadcast(F, ap[a + 10]); ca0 = xa.fma(b0, ca0); ca1 = xa.fma(b1, ca1);
            FloatVector xb = FloatVector.broadcast(F, ap[a + 11]); cb0 = xb.fma(b0, cb0); cb1 = xb.fma(b1, cb1);
        }
        c00.intoArray(t, 0 * NR12); c01.intoArray(t, 0 * NR12 + L); c10.intoArray(t, 1 * NR12); c11.intoArray(t, 1 * NR12 + L);
        c20.intoArray(t, 2 * NR12); c21.intoArray(t, 2 * NR12 + L); c30.intoArray(t, 3 * NR12); c31.intoArray(t, 3 * NR12 + L);
        c40.intoArray(t, 4 * NR12); c41.intoArray(t, 4 * NR12 + L); c50.intoArray(t, 5 * NR12); c51.intoArray(t, 5 * NR12 + L);
        c60.intoArray(t, 6 * NR12); c61.intoArray(t, 6 * NR12 + L); c70.intoArray(t, 7 * NR12); c71.intoArray(t, 7 * NR12 + L);
        c80.intoArray(t, 8 * NR12); c81.intoArray(t, 8 * NR12 + L); c90.intoArray(t, 9 * NR12); c91.intoArray(t, 9 * NR12 + L);
        ca0.intoArray(t, 10 * NR12); ca1.intoArray(t, 10 * NR12 + L); cb0.intoArray(t, 11 * NR12); cb1.intoArray(t, 11 * NR12 + L);
    }

    /** The 12 × 2 tile's accumulators on their way to c, one buffer per thread. */
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[12 * 2 * Species.FLOATS]);

}
