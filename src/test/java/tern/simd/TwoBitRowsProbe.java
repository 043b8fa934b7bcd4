package tern.simd;

import java.util.Arrays;
import java.util.SplittableRandom;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Kernel-only timing of the q2 ({@link PackedTwoBitLayout}) int8 kernels for eight activation rows (not a
 * test; BENCHMARKS.md, "Issue 15: the AVX2 multi-row kernel, probed"): random codes of T tiles × B blocks, the
 * one-row kernel eight times ({@code row1}), the shipped four-row kernel twice ({@code rows4},
 * {@link PackedTwoBit#int8Rows4}), and two forms tried for more rows per digit: {@code rows8} (one code register, its
 * digits applied to eight rows in a digit loop: C2 spills a sum to the stack, so each digit waits on a
 * store-to-load round trip) and {@code planes} (a run's digits extracted once into an L1 buffer, then
 * four rows at a time read them: no extraction per row group). Every form's sums are checked against
 * row1's before it is timed. Prints the best of repeated calls in products per ns.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp CLASSES:TEST_CLASSES tern.simd.TwoBitRowsProbe TILES BLOCKS RUN FORM...</pre>
 */
public final class TwoBitRowsProbe {
    private static final VectorSpecies<Short> S = Species.S;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final int L = Species.FLOATS, SL = 2 * L, LANES = SL, PER_LINE = PackedTwoBitLayout.TILE / SL;
    private static final int T = PackedTwoBitLayout.TILE, BLOCK = PackedTwoBitLayout.BLOCK, R = 8;
    private static final short M = 3;

    private TwoBitRowsProbe() {}

    public static void main(String[] a) {
        int tiles = Integer.parseInt(a[0]), blocks = Integer.parseInt(a[1]), run = Integer.parseInt(a[2]);
        int piece = Integer.getInteger("piece", tiles);   // tiles a driver piece streams run by run (PackedTwoBitMatmul's grain)
        // Runs over PackedTwoBit.RUN blocks are exact only for row1 (it splits them); the check below catches the others.
        SplittableRandom rnd = new SplittableRandom(3);
        short[] codes = new short[tiles * blocks * T];
        for (int i = 0; i < codes.length; i++) {
            int c = 0;
            for (int j = 0; j < BLOCK; j++) c |= rnd.nextInt(3) << 2 * j;
            codes[i] = (short) c;
        }
        int pad = blocks * BLOCK, pw = blocks + 1;
        short[] xs = new short[R * pad];
        for (int i = 0; i < xs.length; i++) xs[i] = (short) (rnd.nextInt(255) - 127);
        int[] pre = new int[R * pw];
        for (int r = 0; r < R; r++) {
            int s = 0;
            for (int b = 0; b < blocks; b++) {
                pre[r * pw + b] = s;
                for (int j = 0; j < BLOCK; j++) s += xs[r * pad + BLOCK * b + j];
            }
            pre[r * pw + blocks] = s;
        }
        Work w = new Work(codes, tiles, blocks, run, xs, pad, pre, pw, piece);
        int[] expected = w.run("row1").clone();
        for (int f = 3; f < a.length; f++) {
            String form = a[f];
            if (!Arrays.equals(w.run(form), expected)) throw new AssertionError(form + ": sums differ from the one-row kernel's");
            for (int round = 0; round < 3; round++) {
                long best = Long.MAX_VALUE;
                for (long stop = System.nanoTime() + 2_000_000_000L; System.nanoTime() < stop; ) {
                    long t0 = System.nanoTime();
                    w.run(form);
                    best = Math.min(best, System.nanoTime() - t0);
                }
                System.out.printf("%s tiles %d (pieces of " + piece + ") blocks %d run %d: best %.1f us, %.2f products/ns%n", form, tiles, blocks, run, best / 1e3,
                        (double) tiles * T * blocks * BLOCK * R / best);
            }
        }
    }

    private record Work(short[] codes, int tiles, int blocks, int run, short[] xs, int pad, int[] pre, int pw, int piece, int[] acc,
                        short[] xb, short[][] xg, short[] qb) {
        Work(short[] codes, int tiles, int blocks, int run, short[] xs, int pad, int[] pre, int pw, int piece) {
            this(codes, tiles, blocks, run, xs, pad, pre, pw, piece, new int[R * tiles * T], new short[R * LANES * BLOCK * run],
                    new short[R / 4][4 * LANES * BLOCK * run], new short[PER_LINE * BLOCK * run * SL]);
        }

        int[] run(String form) {
            Arrays.fill(acc, 0);
            for (int p0 = 0; p0 < tiles; p0 += piece) run(form, p0, Math.min(tiles, p0 + piece));
            return acc;
        }

        /** Tiles [t0, t1) as one driver piece: runs outer, the piece's tiles inner. */
        private void run(String form, int t0, int t1) {
            int n = tiles;
            for (int b0 = 0; b0 < blocks; b0 += run) {
                int b1 = Math.min(blocks, b0 + run);
                switch (form) {
                    case "row1" -> {
                        for (int r = 0; r < R; r++)
                            for (int t = t0; t < t1; t++) PackedTwoBit.int8Row(xs, r * pad, pre, r * pw, codes, t * blocks * T, b0, b1, acc, (r * n + t) * T);
                    }
                    case "rows4" -> {
                        for (int r = 0; r < R; r += 4) {
                            PackedTwoBit.broadcast(xs, r * pad, (r + 1) * pad, (r + 2) * pad, (r + 3) * pad, BLOCK * b0, BLOCK * (b1 - b0), xb);
                            for (int t = t0; t < t1; t++) {
                                int aa = (r * n + t) * T, st = n * T;
                                PackedTwoBit.int8Rows4(xb, pre, r * pw, (r + 1) * pw, (r + 2) * pw, (r + 3) * pw, codes, t * blocks * T, b0, b1,
                                        acc, aa, aa + st, aa + 2 * st, aa + 3 * st);
                            }
                        }
                    }
                    case "rows8" -> {
                        broadcast8(xs, pad, BLOCK * b0, BLOCK * (b1 - b0), xb);
                        for (int t = t0; t < t1; t++) rows8(xb, pre, pw, codes, t * blocks * T, b0, b1, acc, t * T, n * T);
                    }
                    case "planes" -> {
                        for (int r = 0; r < R; r += 4)
                            PackedTwoBit.broadcast(xs, r * pad, (r + 1) * pad, (r + 2) * pad, (r + 3) * pad, BLOCK * b0, BLOCK * (b1 - b0), xg[r / 4]);
                        for (int t = t0; t < t1; t++) {
                            digits(codes, t * blocks * T, b0, b1, qb);
                            for (int r = 0; r < R; r += 4) rows4q(qb, xg[r / 4], pre, r * pw, pw, b0, b1, acc, (r * n + t) * T, n * T);
                        }
                    }
                    default -> throw new IllegalArgumentException("unknown form " + form + " (row1, rows4, rows8, planes)");
                }
            }
        }
    }

    /** xb[LANES·(8k + r) + l] ← row r's activation of column c0 + k. */
    static void broadcast8(short[] xs, int rowStride, int c0, int n, short[] xb) {
        for (int k = 0; k < n; k++)
            for (int r = 0; r < R; r++) ShortVector.broadcast(S, xs[r * rowStride + c0 + k]).intoArray(xb, LANES * (R * k + r));
    }

    /** Eight rows per code register, digit loop (the form C2 spills one sum of). */
    static void rows8(short[] xb, int[] pre, int pw, short[] codes, int tile, int b0, int b1, int[] acc, int a, int st) {
        for (int line = 0; line < PER_LINE; line++) {
            int at = tile + SL * line;
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            for (int b = b0; b < b1; b++) {
                ShortVector c = ShortVector.fromArray(S, codes, at + T * b);
                int x = R * LANES * BLOCK * (b - b0);
                for (int j = 0; j < BLOCK; j++, x += R * LANES) {
                    ShortVector q = c.and(M);
                    c = c.lanewise(VectorOperators.LSHR, 2);
                    s0 = s0.add(q.mul(ShortVector.fromArray(S, xb, x)));
                    s1 = s1.add(q.mul(ShortVector.fromArray(S, xb, x + LANES)));
                    s2 = s2.add(q.mul(ShortVector.fromArray(S, xb, x + 2 * LANES)));
                    s3 = s3.add(q.mul(ShortVector.fromArray(S, xb, x + 3 * LANES)));
                    s4 = s4.add(q.mul(ShortVector.fromArray(S, xb, x + 4 * LANES)));
                    s5 = s5.add(q.mul(ShortVector.fromArray(S, xb, x + 5 * LANES)));
                    s6 = s6.add(q.mul(ShortVector.fromArray(S, xb, x + 6 * LANES)));
                    s7 = s7.add(q.mul(ShortVector.fromArray(S, xb, x + 7 * LANES)));
                }
            }
            int o = a + SL * line;
            widen(s0, pre, 0, b0, b1, acc, o);
            widen(s1, pre, pw, b0, b1, acc, o + st);
            widen(s2, pre, 2 * pw, b0, b1, acc, o + 2 * st);
            widen(s3, pre, 3 * pw, b0, b1, acc, o + 3 * st);
            widen(s4, pre, 4 * pw, b0, b1, acc, o + 4 * st);
            widen(s5, pre, 5 * pw, b0, b1, acc, o + 5 * st);
            widen(s6, pre, 6 * pw, b0, b1, acc, o + 6 * st);
            widen(s7, pre, 7 * pw, b0, b1, acc, o + 7 * st);
        }
    }

    /** qb ← the run's digits of the tile, in the order {@link #rows4q} reads them. */
    static void digits(short[] codes, int tile, int b0, int b1, short[] qb) {
        int run = b1 - b0;
        for (int line = 0; line < PER_LINE; line++)
            for (int b = b0; b < b1; b++) {
                ShortVector c = ShortVector.fromArray(S, codes, tile + SL * line + T * b);
                int o = SL * BLOCK * (run * line + b - b0);
                for (int j = 0; j < BLOCK - 1; j++) c.lanewise(VectorOperators.LSHR, 2 * j).and(M).intoArray(qb, o + j * SL);
                c.lanewise(VectorOperators.LSHR, 14).intoArray(qb, o + 7 * SL);
            }
    }

    /** Four rows from extracted digits; xb as {@link PackedTwoBit#broadcast} lays it out. */
    static void rows4q(short[] qb, short[] xb, int[] pre, int p, int pw, int b0, int b1, int[] acc, int a, int st) {
        int run = b1 - b0;
        for (int line = 0; line < PER_LINE; line++) {
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            int qo = SL * BLOCK * run * line;
            for (int k = 0; k < BLOCK * run; k++, qo += SL) {
                ShortVector q = ShortVector.fromArray(S, qb, qo);
                int x = 4 * LANES * k;
                s0 = s0.add(q.mul(ShortVector.fromArray(S, xb, x)));
                s1 = s1.add(q.mul(ShortVector.fromArray(S, xb, x + LANES)));
                s2 = s2.add(q.mul(ShortVector.fromArray(S, xb, x + 2 * LANES)));
                s3 = s3.add(q.mul(ShortVector.fromArray(S, xb, x + 3 * LANES)));
            }
            int o = a + SL * line;
            widen(s0, pre, p, b0, b1, acc, o);
            widen(s1, pre, p + pw, b0, b1, acc, o + st);
            widen(s2, pre, p + 2 * pw, b0, b1, acc, o + 2 * st);
            widen(s3, pre, p + 3 * pw, b0, b1, acc, o + 3 * st);
        }
    }

    /** acc[o …] += raw − Σx of the run, widened (as {@link PackedTwoBit}'s kernels do). */
    private static void widen(ShortVector raw, int[] pre, int p, int b0, int b1, int[] acc, int o) {
        ShortVector s = raw.add((short) -(pre[p + b1] - pre[p + b0]));
        IntVector.fromArray(I, acc, o).add(s.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, o);
        IntVector.fromArray(I, acc, o + L).add(s.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, o + L);
    }
}
