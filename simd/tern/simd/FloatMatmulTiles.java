package tern.simd;

import static tern.simd.FloatMatmulVector.corner;
import static tern.simd.FloatMatmulVector.ld;
import static tern.simd.FloatMatmulVector.st;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * The float matmul's register tile below 512 bits, 4 rows × 2 vectors (4×16 floats with AVX2, 4×8 at 128
 * bits), and the choice of tile per width. Loaded only when {@link Vectorization#ENABLED}.
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
 * At 512 bits (AVX-512: 32 registers) the 4 × 4 tile of {@link FloatMatmulVector} stays, as measured
 * on Zen 4.
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

    /** The tile at this width: ROWS rows × VECTORS vectors. */
    static final int ROWS = 4, VECTORS = Vectorization.BITS == 512 ? 4 : 2;

    private static final int NR = VECTORS * L;

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

}
