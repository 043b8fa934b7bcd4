package tern.simd;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * The packed kernels of AVX2 and 128-bit machines for int8 activations: the t9 matrix repacked at load
 * time to 2-bit digits ({@link PackedTwoBitLayout}) and multiplied in int16 lanes, one row per lane:
 * acc += q·x per weight (q = t + 1 ∈ {0, 1, 2}, x the int8 activation broadcast), acc − Σx = Σ t·x per
 * run of columns. Float activations, and the t9 tile methods of the interface, are {@link PackedDigits}'s.
 *
 * <p>Why not lookups or the t9 decoding here: AVX2 has no byte or int16 multiply-add ({@code vpmaddubsw}
 * is not reachable from the Vector API), its 256-bit {@code selectFrom} is emulated (measured on Zen 3:
 * 0.93 ns per 32 byte lookups, 2.3 cycles), and a 128-bit {@code vpshufb} looks up 16 int8 entries, too
 * few for exact sums of two int8 activations. A 16-bit multiply and add per 16 weights, plus a shift and
 * an and, was the cheapest exact form measured (Zen 3, one core, 1024×1024: 34 µs, against 53 µs for
 * the t9 multiply-shift decoding).
 *
 * <p>Exactness: the int16 lanes wrap. A run of at most {@link #RUN} blocks (256 columns) accumulates
 * Σ q·x mod 2¹⁶; its true value minus Σx is Σ t·x, |Σ t·x| ≤ 256·127 &lt; 2¹⁵, so raw − Σx read as signed
 * is exact. Then the run is widened into int32 accumulators.
 *
 * <p>Several activation rows ({@link #int8Rows4}): each code register's digits are extracted once and
 * multiplied by four rows' activations.
 */
final class PackedTwoBit implements PackedKernels {
    static final PackedTwoBit INSTANCE = new PackedTwoBit();

    private static final VectorSpecies<Short> S = Species.S;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final int L = Species.FLOATS, SL = 2 * L;
    /** Registers per 64-code block line of a tile. */
    private static final int PER_LINE = PackedTwoBitLayout.TILE / SL;
    /** Blocks of one int16 run (see the class comment). */
    static final int RUN = 32;
    /**
     * Code registers a one-row pass carries: 4 (a whole 64-row line at 256 bits, two passes at 128), so
     * each activation broadcast serves 64 rows; 4 codes, 4 sums and the temporaries fit AVX2's 16.
     */
    private static final int STREAMS = 4;
    /** True where this class can run: a tile line holds at least {@link #STREAMS} registers (below 512 bits). */
    static final boolean USABLE = PER_LINE >= STREAMS;
    private static final int TILE = PackedTwoBitLayout.TILE, BLOCK = PackedTwoBitLayout.BLOCK;

    private PackedTwoBit() {}

    static String layout() {
        return "PackedTwoBit: t9 repacked to 2-bit digits, int16 multiply-add, " + STREAMS + " code registers a pass";
    }

    // ---- float activations and the t9 tile methods: PackedDigits' -------------------------------------

    @Override public void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl, int tOff) { PackedDigits.INSTANCE.floatTables(x, xOff, c0, c1, tbl, tOff); }

    @Override public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff) { PackedDigits.INSTANCE.int8Tables(q, qOff, c0, c1, tbl, tOff); }

    @Override public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        PackedDigits.INSTANCE.floatTile(tbl, tOff, codes, tile, g0, g1, acc, accOff);
    }

    @Override public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        PackedDigits.INSTANCE.int8Tile(tbl, tOff, codes, tile, g0, g1, acc, accOff);
    }

    @Override public float quantizeInt8(float[] x, int off, int n, byte[] q) { return Int8Quantizer.quantize(x, off, n, q); }

    @Override public boolean int8Product(PackedTernary[] ws, int[] firstTile, float[] x, int m, float[][] ys) {
        PackedTwoBitMatmul.int8(this, ws, firstTile, x, m, ys);
        return true;
    }

    @Override public void prepare(PackedTernary w) { PackedTwoBitLayout.of(w); }

    // ---- one activation row -----------------------------------------------------------------------------

    /**
     * acc[accOff + i] += Σ over blocks b in [b0, b1), j &lt; 8 of t(i, 8b + j)·xs[xOff + 8b + j] for the 64
     * rows i of the tile whose codes start at index {@code tile}; pre[pOff + b] = Σ of xs over blocks before b (from xOff).
     */
    static void int8Row(short[] xs, int xOff, int[] pre, int pOff, short[] codes, int tile, int b0, int b1, int[] acc, int accOff) {
        for (int p = 0; p < PER_LINE; p += STREAMS)
            int8Pass(xs, xOff, pre, pOff, codes, tile + SL * p, b0, b1, acc, accOff + SL * p);
    }

    private static void int8Pass(short[] xs, int xOff, int[] pre, int pOff, short[] codes, int at, int b0, int b1, int[] acc, int accOff) {
        for (int start = b0; start < b1; start += RUN) {
            int end = Math.min(b1, start + RUN);
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int b = start; b < end; b++) {
                int line = at + TILE * b, x = xOff + BLOCK * b;
                ShortVector c0 = ShortVector.fromArray(S, codes, line), c1 = ShortVector.fromArray(S, codes, line + SL);
                ShortVector c2 = ShortVector.fromArray(S, codes, line + 2 * SL), c3 = ShortVector.fromArray(S, codes, line + 3 * SL);
                // Digit 0: and; digits 1..6: shift, and; digit 7: shift (bits above are zero).
                short x0 = xs[x];
                s0 = s0.add(c0.and((short) 3).mul(x0)); s1 = s1.add(c1.and((short) 3).mul(x0));
                s2 = s2.add(c2.and((short) 3).mul(x0)); s3 = s3.add(c3.and((short) 3).mul(x0));
                for (int j = 1; j < BLOCK - 1; j++) {
                    short xj = xs[x + j];
                    s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 2 * j).and((short) 3).mul(xj));
                    s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 2 * j).and((short) 3).mul(xj));
                    s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 2 * j).and((short) 3).mul(xj));
                    s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 2 * j).and((short) 3).mul(xj));
                }
                short x7 = xs[x + 7];
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 14).mul(x7)); s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 14).mul(x7));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 14).mul(x7)); s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 14).mul(x7));
            }
            // Raw − Σx, wrapped (see the class comment), widened in place (no helper: C2 would box).
            short corr = (short) -(pre[pOff + end] - pre[pOff + start]);
            s0 = s0.add(corr); s1 = s1.add(corr); s2 = s2.add(corr); s3 = s3.add(corr);
            IntVector.fromArray(I, acc, accOff).add(s0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accOff);
            IntVector.fromArray(I, acc, accOff + L).add(s0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accOff + L);
            IntVector.fromArray(I, acc, accOff + SL).add(s1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accOff + SL);
            IntVector.fromArray(I, acc, accOff + SL + L).add(s1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accOff + SL + L);
            IntVector.fromArray(I, acc, accOff + 2 * SL).add(s2.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accOff + 2 * SL);
            IntVector.fromArray(I, acc, accOff + 2 * SL + L).add(s2.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accOff + 2 * SL + L);
            IntVector.fromArray(I, acc, accOff + 3 * SL).add(s3.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accOff + 3 * SL);
            IntVector.fromArray(I, acc, accOff + 3 * SL + L).add(s3.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accOff + 3 * SL + L);
        }
    }

    // ---- four activation rows ---------------------------------------------------------------------------

    /** Lanes of one register of broadcast activations, as {@link #broadcast} lays them out. */
    static final int LANES = SL;

    /**
     * xb[xbOff + LANES·(ROWS·k + r) + l] ← xs[xOff[r] + c0 + k] for every lane l, k &lt; n, r &lt; 4: four rows'
     * activations of n columns, each broadcast to a register, so the four-row kernel loads them (a load
     * port) instead of broadcasting each per code register (two vector instructions on AVX2).
     */
    static void broadcast(short[] xs, int xa, int xb, int xc, int xd, int c0, int n, short[] out) {
        for (int k = 0; k < n; k++) {
            int o = 4 * LANES * k;
            ShortVector.broadcast(S, xs[xa + c0 + k]).intoArray(out, o);
            ShortVector.broadcast(S, xs[xb + c0 + k]).intoArray(out, o + LANES);
            ShortVector.broadcast(S, xs[xc + c0 + k]).intoArray(out, o + 2 * LANES);
            ShortVector.broadcast(S, xs[xd + c0 + k]).intoArray(out, o + 3 * LANES);
        }
    }

    /**
     * {@link #int8Row} for four activation rows at once over at most one run (b1 − b0 ≤ {@link #RUN}):
     * xb holds the rows' activations of blocks [b0, b1) broadcast ({@link #broadcast} from column 8·b0),
     * pre[pR..] row R's prefix sums, its sums go to acc[aR..]. One code register a pass: its digits are
     * extracted once (a shift and an and) and multiplied by the four rows' activations (one multiply and
     * one add each, the activations loaded): 10 instructions per 64 products, where four one-row passes
     * take about 15 (measured: see BENCHMARKS.md).
     */
    static void int8Rows4(short[] xb, int[] pre, int pa, int pb, int pc, int pd,
                          short[] codes, int tile, int b0, int b1, int[] acc, int aa, int ab, int ac, int ad) {
        for (int p = 0; p < PER_LINE; p++) {
            int at = tile + SL * p;
            ShortVector sa = ShortVector.zero(S), sb = sa, sc = sa, sd = sa;
            for (int b = b0; b < b1; b++) {
                ShortVector c = ShortVector.fromArray(S, codes, at + TILE * b);
                int o = 4 * LANES * BLOCK * (b - b0);
                for (int j = 0; j < BLOCK; j++) {
                    // One expression for every digit (a conditional one would merge vectors, which C2 boxes).
                    ShortVector q = c.lanewise(VectorOperators.LSHR, 2 * j).and((short) 3);
                    int x = o + 4 * LANES * j;
                    sa = sa.add(q.mul(ShortVector.fromArray(S, xb, x)));
                    sb = sb.add(q.mul(ShortVector.fromArray(S, xb, x + LANES)));
                    sc = sc.add(q.mul(ShortVector.fromArray(S, xb, x + 2 * LANES)));
                    sd = sd.add(q.mul(ShortVector.fromArray(S, xb, x + 3 * LANES)));
                }
            }
            sa = sa.add((short) -(pre[pa + b1] - pre[pa + b0]));
            sb = sb.add((short) -(pre[pb + b1] - pre[pb + b0]));
            sc = sc.add((short) -(pre[pc + b1] - pre[pc + b0]));
            sd = sd.add((short) -(pre[pd + b1] - pre[pd + b0]));
            int o = SL * p;
            IntVector.fromArray(I, acc, aa + o).add(sa.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, aa + o);
            IntVector.fromArray(I, acc, aa + o + L).add(sa.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, aa + o + L);
            IntVector.fromArray(I, acc, ab + o).add(sb.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, ab + o);
            IntVector.fromArray(I, acc, ab + o + L).add(sb.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, ab + o + L);
            IntVector.fromArray(I, acc, ac + o).add(sc.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, ac + o);
            IntVector.fromArray(I, acc, ac + o + L).add(sc.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, ac + o + L);
            IntVector.fromArray(I, acc, ad + o).add(sd.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, ad + o);
            IntVector.fromArray(I, acc, ad + o + L).add(sd.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, ad + o + L);
        }
    }
}
