package tern.simd;

import static tern.simd.FloatMatmulVector.corner;
import static tern.simd.FloatMatmulVector.ld;
import static tern.simd.FloatMatmulVector.st;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * The float matmul's register tiles for 16 vector registers (AVX2, and x86 at 128 bits), and the choice of
 * tile per width. Loaded only when {@link Vectorization#ENABLED}.
 *
 * <p>TODO(f19): choice and measurements.
 */
final class FloatMatmulTiles {
    private static final VectorSpecies<Float> F = Species.F;
    private static final int L = F.length();

    /** The tile: ROWS rows × VECTORS vectors. */
    static final int ROWS, VECTORS;

    static {
        String t = Vectorization.BITS == 512 ? "4x4" : System.getProperty("tern.matmul.tile", "6x2");
        ROWS = Integer.parseInt(t.substring(0, t.indexOf('x')));
        VECTORS = Integer.parseInt(t.substring(t.indexOf('x') + 1));
    }

    private static final int NR = VECTORS * L;
    private static final boolean UNROLL = Boolean.getBoolean("tern.matmul.unroll");

    private FloatMatmulTiles() {}

    static void tile(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                     MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        if (ROWS == 6 && VECTORS == 2) tile6x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 4 && VECTORS == 3) tile4x3(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 8 && VECTORS == 1) tile8x1(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 5 && VECTORS == 2) tile5x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 4 && VECTORS == 2 && UNROLL) tile4x2u(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 4 && VECTORS == 2) tile4x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 3 && VECTORS == 3) tile3x3(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else if (ROWS == 3 && VECTORS == 2) tile3x2(ap, apOff, bp, bpOff, kc, c, cOff, ldc, rows, cols, add);
        else throw new IllegalStateException("no " + ROWS + "x" + VECTORS + " tile");
    }

    private static void tile6x2(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 6, b += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, ap[a + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, ap[a + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        if (rows == 6 && cols == NR) {
            long r0 = cOff, r1 = r0 + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
            if (add) {
                c00 = c00.add(ld(c, r0)); c01 = c01.add(ld(c, r0 + L));
                c10 = c10.add(ld(c, r1)); c11 = c11.add(ld(c, r1 + L));
                c20 = c20.add(ld(c, r2)); c21 = c21.add(ld(c, r2 + L));
                c30 = c30.add(ld(c, r3)); c31 = c31.add(ld(c, r3 + L));
                c40 = c40.add(ld(c, r4)); c41 = c41.add(ld(c, r4 + L));
                c50 = c50.add(ld(c, r5)); c51 = c51.add(ld(c, r5 + L));
            }
            st(c00, c, r0); st(c01, c, r0 + L); st(c10, c, r1); st(c11, c, r1 + L);
            st(c20, c, r2); st(c21, c, r2 + L); st(c30, c, r3); st(c31, c, r3 + L);
            st(c40, c, r4); st(c41, c, r4 + L); st(c50, c, r5); st(c51, c, r5 + L);
            return;
        }
        float[] t = new float[6 * NR];
        c00.intoArray(t, 0); c01.intoArray(t, L); c10.intoArray(t, NR); c11.intoArray(t, NR + L);
        c20.intoArray(t, 2 * NR); c21.intoArray(t, 2 * NR + L); c30.intoArray(t, 3 * NR); c31.intoArray(t, 3 * NR + L);
        c40.intoArray(t, 4 * NR); c41.intoArray(t, 4 * NR + L); c50.intoArray(t, 5 * NR); c51.intoArray(t, 5 * NR + L);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }

    private static void tile4x3(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 4, b += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector b2 = FloatVector.fromArray(F, bp, b + 2 * L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(F, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
        }
        if (rows == 4 && cols == NR) {
            long r0 = cOff, r1 = r0 + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
            if (add) {
                c00 = c00.add(ld(c, r0)); c01 = c01.add(ld(c, r0 + L)); c02 = c02.add(ld(c, r0 + 2 * L));
                c10 = c10.add(ld(c, r1)); c11 = c11.add(ld(c, r1 + L)); c12 = c12.add(ld(c, r1 + 2 * L));
                c20 = c20.add(ld(c, r2)); c21 = c21.add(ld(c, r2 + L)); c22 = c22.add(ld(c, r2 + 2 * L));
                c30 = c30.add(ld(c, r3)); c31 = c31.add(ld(c, r3 + L)); c32 = c32.add(ld(c, r3 + 2 * L));
            }
            st(c00, c, r0); st(c01, c, r0 + L); st(c02, c, r0 + 2 * L);
            st(c10, c, r1); st(c11, c, r1 + L); st(c12, c, r1 + 2 * L);
            st(c20, c, r2); st(c21, c, r2 + L); st(c22, c, r2 + 2 * L);
            st(c30, c, r3); st(c31, c, r3 + L); st(c32, c, r3 + 2 * L);
            return;
        }
        float[] t = new float[4 * NR];
        c00.intoArray(t, 0); c01.intoArray(t, L); c02.intoArray(t, 2 * L);
        c10.intoArray(t, NR); c11.intoArray(t, NR + L); c12.intoArray(t, NR + 2 * L);
        c20.intoArray(t, 2 * NR); c21.intoArray(t, 2 * NR + L); c22.intoArray(t, 2 * NR + 2 * L);
        c30.intoArray(t, 3 * NR); c31.intoArray(t, 3 * NR + L); c32.intoArray(t, 3 * NR + 2 * L);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }

    private static void tile8x1(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 8, b += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b);
            c0 = FloatVector.broadcast(F, ap[a]).fma(b0, c0);
            c1 = FloatVector.broadcast(F, ap[a + 1]).fma(b0, c1);
            c2 = FloatVector.broadcast(F, ap[a + 2]).fma(b0, c2);
            c3 = FloatVector.broadcast(F, ap[a + 3]).fma(b0, c3);
            c4 = FloatVector.broadcast(F, ap[a + 4]).fma(b0, c4);
            c5 = FloatVector.broadcast(F, ap[a + 5]).fma(b0, c5);
            c6 = FloatVector.broadcast(F, ap[a + 6]).fma(b0, c6);
            c7 = FloatVector.broadcast(F, ap[a + 7]).fma(b0, c7);
        }
        if (rows == 8 && cols == NR) {
            long r = cOff;
            if (add) {
                c0 = c0.add(ld(c, r)); c1 = c1.add(ld(c, r + ldc)); c2 = c2.add(ld(c, r + 2L * ldc)); c3 = c3.add(ld(c, r + 3L * ldc));
                c4 = c4.add(ld(c, r + 4L * ldc)); c5 = c5.add(ld(c, r + 5L * ldc)); c6 = c6.add(ld(c, r + 6L * ldc)); c7 = c7.add(ld(c, r + 7L * ldc));
            }
            st(c0, c, r); st(c1, c, r + ldc); st(c2, c, r + 2L * ldc); st(c3, c, r + 3L * ldc);
            st(c4, c, r + 4L * ldc); st(c5, c, r + 5L * ldc); st(c6, c, r + 6L * ldc); st(c7, c, r + 7L * ldc);
            return;
        }
        float[] t = new float[8 * NR];
        c0.intoArray(t, 0); c1.intoArray(t, NR); c2.intoArray(t, 2 * NR); c3.intoArray(t, 3 * NR);
        c4.intoArray(t, 4 * NR); c5.intoArray(t, 5 * NR); c6.intoArray(t, 6 * NR); c7.intoArray(t, 7 * NR);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }

    private static void tile5x2(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 5, b += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b); FloatVector b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, ap[a + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
        }
        if (rows == 5 && cols == NR) {
            if (add) {
                c00 = c00.add(ld(c, cOff)); c01 = c01.add(ld(c, cOff + L));
                c10 = c10.add(ld(c, cOff + 1L * ldc)); c11 = c11.add(ld(c, cOff + 1L * ldc + L));
                c20 = c20.add(ld(c, cOff + 2L * ldc)); c21 = c21.add(ld(c, cOff + 2L * ldc + L));
                c30 = c30.add(ld(c, cOff + 3L * ldc)); c31 = c31.add(ld(c, cOff + 3L * ldc + L));
                c40 = c40.add(ld(c, cOff + 4L * ldc)); c41 = c41.add(ld(c, cOff + 4L * ldc + L));
            }
            st(c00, c, cOff); st(c01, c, cOff + L);
            st(c10, c, cOff + 1L * ldc); st(c11, c, cOff + 1L * ldc + L);
            st(c20, c, cOff + 2L * ldc); st(c21, c, cOff + 2L * ldc + L);
            st(c30, c, cOff + 3L * ldc); st(c31, c, cOff + 3L * ldc + L);
            st(c40, c, cOff + 4L * ldc); st(c41, c, cOff + 4L * ldc + L);
            return;
        }
        float[] t = new float[5 * NR];
        c00.intoArray(t, 0 * NR + 0 * L); c01.intoArray(t, 0 * NR + 1 * L);
        c10.intoArray(t, 1 * NR + 0 * L); c11.intoArray(t, 1 * NR + 1 * L);
        c20.intoArray(t, 2 * NR + 0 * L); c21.intoArray(t, 2 * NR + 1 * L);
        c30.intoArray(t, 3 * NR + 0 * L); c31.intoArray(t, 3 * NR + 1 * L);
        c40.intoArray(t, 4 * NR + 0 * L); c41.intoArray(t, 4 * NR + 1 * L);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }

    private static void tile4x2(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 4, b += NR) {
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

    private static void tile4x2u(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        int p = 0, a = apOff, b = bpOff;
        for (; p + 1 < kc; p += 2, a += 8, b += 2 * NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b); FloatVector b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            b0 = FloatVector.fromArray(F, bp, b + NR) ; b1 = FloatVector.fromArray(F, bp, b + NR + L);
            x = FloatVector.broadcast(F, ap[a + 4]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 4 + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 4 + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 4 + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        for (; p < kc; p++, a += 4, b += NR) {
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

    private static void tile3x3(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 3, b += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b); FloatVector b1 = FloatVector.fromArray(F, bp, b + L); FloatVector b2 = FloatVector.fromArray(F, bp, b + 2 * L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
        }
        if (rows == 3 && cols == NR) {
            if (add) {
                c00 = c00.add(ld(c, cOff)); c01 = c01.add(ld(c, cOff + L)); c02 = c02.add(ld(c, cOff + 2 * L));
                c10 = c10.add(ld(c, cOff + 1L * ldc)); c11 = c11.add(ld(c, cOff + 1L * ldc + L)); c12 = c12.add(ld(c, cOff + 1L * ldc + 2 * L));
                c20 = c20.add(ld(c, cOff + 2L * ldc)); c21 = c21.add(ld(c, cOff + 2L * ldc + L)); c22 = c22.add(ld(c, cOff + 2L * ldc + 2 * L));
            }
            st(c00, c, cOff); st(c01, c, cOff + L); st(c02, c, cOff + 2 * L);
            st(c10, c, cOff + 1L * ldc); st(c11, c, cOff + 1L * ldc + L); st(c12, c, cOff + 1L * ldc + 2 * L);
            st(c20, c, cOff + 2L * ldc); st(c21, c, cOff + 2L * ldc + L); st(c22, c, cOff + 2L * ldc + 2 * L);
            return;
        }
        float[] t = new float[3 * NR];
        c00.intoArray(t, 0 * NR + 0 * L); c01.intoArray(t, 0 * NR + 1 * L); c02.intoArray(t, 0 * NR + 2 * L);
        c10.intoArray(t, 1 * NR + 0 * L); c11.intoArray(t, 1 * NR + 1 * L); c12.intoArray(t, 1 * NR + 2 * L);
        c20.intoArray(t, 2 * NR + 0 * L); c21.intoArray(t, 2 * NR + 1 * L); c22.intoArray(t, 2 * NR + 2 * L);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }

    private static void tile3x2(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                                MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        for (int p = 0, a = apOff, b = bpOff; p < kc; p++, a += 3, b += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, b); FloatVector b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
        }
        if (rows == 3 && cols == NR) {
            if (add) {
                c00 = c00.add(ld(c, cOff)); c01 = c01.add(ld(c, cOff + L));
                c10 = c10.add(ld(c, cOff + 1L * ldc)); c11 = c11.add(ld(c, cOff + 1L * ldc + L));
                c20 = c20.add(ld(c, cOff + 2L * ldc)); c21 = c21.add(ld(c, cOff + 2L * ldc + L));
            }
            st(c00, c, cOff); st(c01, c, cOff + L);
            st(c10, c, cOff + 1L * ldc); st(c11, c, cOff + 1L * ldc + L);
            st(c20, c, cOff + 2L * ldc); st(c21, c, cOff + 2L * ldc + L);
            return;
        }
        float[] t = new float[3 * NR];
        c00.intoArray(t, 0 * NR + 0 * L); c01.intoArray(t, 0 * NR + 1 * L);
        c10.intoArray(t, 1 * NR + 0 * L); c11.intoArray(t, 1 * NR + 1 * L);
        c20.intoArray(t, 2 * NR + 0 * L); c21.intoArray(t, 2 * NR + 1 * L);
        corner(t, NR, c, cOff, ldc, rows, cols, add);
    }
}
