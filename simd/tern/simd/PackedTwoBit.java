package tern.simd;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * The packed kernels of AVX2 and 128-bit machines for int8 activations: the t9 matrix repacked at load
 * time to 2-bit digits ({@link PackedTwoBitLayout}) and multiplied in int16 lanes. Float activations,
 * and the t9 tile methods of the interface, are {@link PackedDigits}'s.
 *
 * <h2>The product: shifts and multiplies, no masks</h2>
 * A 32-bit lane holds one row's two codes of a block pair: W = Σ_{k&lt;16} q_k·4^k over its 16 columns
 * (q = t + 1 ∈ {0, 1, 2}). Shifting the lane right by 2 each step, the low int16 half holds
 * ⌊W/4^j⌋ mod 2¹⁶ and the high half ⌊W/4^(8+j)⌋ at step j &lt; 8. With telescoped activations
 * y_0 = x_0, y_k = x_k − 4·x_{k−1} (k = 1..15), multiplying the low half by y_j and the high half by
 * y_{8+j} and adding over the 8 steps gives, mod 2¹⁶, Σ_k q_k·Σ_{0≤k−i≤7} 4^(k−i)·y_i = Σ_k q_k·x_k,
 * since the inner sum telescopes to x_k − 4⁸·x_{k−8} and 4⁸ = 2¹⁶ (the low half's bits shifted in
 * from the high code are exactly those terms). The two halves are added at the end of a run. So a step
 * is one immediate shift of int32 lanes, one 16-bit multiply and one add per 16 weights, and no mask:
 * C2 shifts int16 lanes only by a count register (two more instructions a shift), int32 lanes by an
 * immediate. Measured on Zen 3, one core, 1024×1024 kernel alone: 20 µs, against 26 µs for the same
 * with 16-bit codes (a ninth correction step), 31–37 µs for shift-and-mask forms (see BENCHMARKS.md).
 *
 * <p>Exactness: the int16 lanes wrap. A run of at most {@link #RUN} pairs (256 columns) accumulates
 * Σ q·x mod 2¹⁶ in its two halves; their sum minus Σx is Σ t·x, |Σ t·x| ≤ 256·127 &lt; 2¹⁵, so it
 * read as signed is exact. Then the run is widened into int32 accumulators.
 *
 * <p>Several activation rows ({@link #int8Rows4}): each code register's step is shifted once and
 * multiplied by four rows' activations.
 */
final class PackedTwoBit implements PackedKernels {
    static final PackedTwoBit INSTANCE = new PackedTwoBit();

    private static final VectorSpecies<Short> S = Species.S;
    private static final VectorSpecies<Integer> I = Species.I;
    /** Int32 lanes (rows) of a register, and its int16 lanes. */
    private static final int L = Species.FLOATS, SL = 2 * L;
    /** Registers per 64-row line of a block pair: a row per int32 lane. */
    private static final int PER_LINE = PackedTwoBitLayout.TILE / L;
    /** Block pairs of one int16 run (see the class comment). */
    static final int RUN = 16;
    /**
     * Telescoped activations of one pair and one activation row for the one-row kernel: one int32 a step
     * (8 steps), broadcast into a register by the kernel. Measured on Zen 4 with AVX2 forced (one thread,
     * kernel alone): 1024×1024 17.1 µs against 21.1 with each step's int32 stored broadcast in L lanes
     * (as {@link #PAIR_LANES}); C2 folds the array load into the broadcast (one {@code vpbroadcastd} from
     * memory, a load, no vector ALU op), and the row's activations take 8× less cache: 28 KiB at 14336
     * columns, within L1d, where the broadcast copies took 229 KiB.
     */
    static final int STEPS = 8;
    /** Telescoped activations of one pair and one row as the four-row kernel loads them: 8 steps of L lanes. */
    static final int PAIR_LANES = 8 * L;
    /**
     * Code registers a one-row pass carries: 4 (32 rows at 256 bits: two passes a tile), so each
     * activation load serves 4 multiplies. 4 codes, 4 sums, the step's activations and temporaries fit
     * AVX2's 16 registers on paper; C2 still spills sums (it schedules the shift chains first), and 8
     * code registers spilled far more (measured 2.7× slower).
     */
    private static final int STREAMS = 4;
    /**
     * True at 128 bits: the one-row pass shifts each loaded code register by 2j for step j
     * ({@link #int8PassFromLoad}) instead of once more each step ({@link #int8Pass}); see the two methods
     * for what each width measured.
     */
    private static final boolean FROM_LOAD = L == 4;
    /** True where this class can run: a tile line holds at least {@link #STREAMS} registers (below 512 bits). */
    static final boolean USABLE = PER_LINE >= STREAMS;
    private static final int TILE = PackedTwoBitLayout.TILE, PAIR = PackedTwoBitLayout.PAIR;
    /** Codes of one pair of a row group ({@link PackedTwoBitLayout#GROUP} rows: one pass's four registers), contiguous. */
    private static final int GROUP_PAIR = 2 * PackedTwoBitLayout.GROUP;
    static {
        if (PackedTwoBitLayout.GROUP != STREAMS * L) throw new AssertionError("a row group of the q2 layout must be one pass's registers");
    }

    private PackedTwoBit() {}

    static String layout() {
        return "PackedTwoBit: t9 repacked to 2-bit digit pairs, telescoped int16 multiply-add, " + STREAMS + " code registers a pass";
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

    // ---- activations ---------------------------------------------------------------------------------

    /**
     * Step j of the pair whose 16 columns start at xs[c]: y_j (low int16 half) and y_{8+j} (high), the
     * telescoped activations of the class comment.
     */
    static int pairStep(short[] xs, int c, int j) {
        int lo = j == 0 ? xs[c] : xs[c + j] - 4 * xs[c + j - 1], hi = xs[c + 8 + j] - 4 * xs[c + 7 + j];
        return lo & 0xFFFF | hi << 16;
    }

    /**
     * yb[yOff + STEPS·(p − p0) + j] ← {@link #pairStep} of pair p, step j, for pairs [p0, p1) of the row
     * whose padded int8 values start at xs[xOff] (16 a pair): what {@link #int8Row} reads.
     */
    static void telescope(short[] xs, int xOff, int p0, int p1, int[] yb, int yOff) {
        // pairStep written out without its branch on j: a call of it per step took 3 ns (21 µs at 14336 columns).
        for (int p = p0; p < p1; p++) {
            int c = xOff + PAIR * p, o = yOff + STEPS * (p - p0);
            yb[o] = xs[c] & 0xFFFF | xs[c + 8] - 4 * xs[c + 7] << 16;
            for (int j = 1; j < STEPS; j++) yb[o + j] = xs[c + j] - 4 * xs[c + j - 1] & 0xFFFF | xs[c + 8 + j] - 4 * xs[c + 7 + j] << 16;
        }
    }

    // ---- one activation row -----------------------------------------------------------------------------

    /**
     * acc[accOff + i] += Σ over pairs p in [p0, p1), k &lt; 16 of t(i, 16p + k)·x(16p + k) for the 64 rows
     * i of the tile whose codes start at index {@code tile}; yb from yOff: the row's {@link #telescope}d
     * activations of pairs [p0, p1); pre[pOff + p] = Σ of x over pairs before p.
     */
    static void int8Row(int[] yb, int yOff, int[] pre, int pOff, short[] codes, int tile, int groupStride, int p0, int p1, int[] acc, int accOff) {
        if (FROM_LOAD)
            for (int g = 0; g < PER_LINE; g += STREAMS) int8PassFromLoad(yb, yOff, pre, pOff, codes, tile + g / STREAMS * groupStride, p0, p1, acc, accOff + L * g);
        else
            for (int g = 0; g < PER_LINE; g += STREAMS) int8Pass(yb, yOff, pre, pOff, codes, tile + g / STREAMS * groupStride, p0, p1, acc, accOff + L * g);
    }

    /**
     * The 8 steps written out, each step's shift beside its multiply (a loop over them measured slower: C2
     * kept its counter and did not unroll), and every vector expression in this method: a vector helper
     * method that C2 compiles on its own first is then not inlined, and its vectors are boxed (measured:
     * 40× slower).
     */
    private static void int8Pass(int[] yb, int yOff, int[] pre, int pOff, short[] codes, int at, int p0, int p1, int[] acc, int accOff) {
        for (int start = p0; start < p1; start += RUN) {
            int end = Math.min(p1, start + RUN);
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int p = start; p < end; p++) {
                int line = at + GROUP_PAIR * p, y = yOff + STEPS * (p - p0);
                IntVector c0 = ShortVector.fromArray(S, codes, line).reinterpretAsInts(), c1 = ShortVector.fromArray(S, codes, line + SL).reinterpretAsInts();
                IntVector c2 = ShortVector.fromArray(S, codes, line + 2 * SL).reinterpretAsInts(), c3 = ShortVector.fromArray(S, codes, line + 3 * SL).reinterpretAsInts();
                ShortVector v = IntVector.broadcast(I, yb[y]).reinterpretAsShorts();
                s0 = s0.add(c0.reinterpretAsShorts().mul(v)); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.reinterpretAsShorts().mul(v)); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 1]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 2]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 3]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 4]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 5]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 6]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 7]).reinterpretAsShorts();
                c0 = c0.lanewise(VectorOperators.LSHR, 2); s0 = s0.add(c0.reinterpretAsShorts().mul(v));
                c1 = c1.lanewise(VectorOperators.LSHR, 2); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                c2 = c2.lanewise(VectorOperators.LSHR, 2); s2 = s2.add(c2.reinterpretAsShorts().mul(v));
                c3 = c3.lanewise(VectorOperators.LSHR, 2); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
            }
            // Each lane: low half + high half + corr, read as a signed int16 (see the class comment), into int32.
            int corr = -(pre[pOff + end] - pre[pOff + start]);
            IntVector w0 = s0.reinterpretAsInts(), w1 = s1.reinterpretAsInts(), w2 = s2.reinterpretAsInts(), w3 = s3.reinterpretAsInts();
            w0 = w0.add(w0.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            w1 = w1.add(w1.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            w2 = w2.add(w2.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            w3 = w3.add(w3.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            IntVector.fromArray(I, acc, accOff).add(w0).intoArray(acc, accOff);
            IntVector.fromArray(I, acc, accOff + L).add(w1).intoArray(acc, accOff + L);
            IntVector.fromArray(I, acc, accOff + 2 * L).add(w2).intoArray(acc, accOff + 2 * L);
            IntVector.fromArray(I, acc, accOff + 3 * L).add(w3).intoArray(acc, accOff + 3 * L);
        }
    }

    /**
     * {@link #int8Pass} at 128 bits: each code register is loaded once a pair and step j reads field j as that
     * register shifted by 2j (not the previous step's value shifted once more), so the eight shifts of a
     * register hang off its load, no chain of dependent shifts. Every vector expression in place, as there.
     * Measured on Zen 3 (AVX2 forced to 128 bits, one thread, load 2–7): the one-row kernel alone over a
     * 1024×1024 matrix 43.6–44.5 µs against 45.7–46.3 µs for the chain (best of 2000 calls); end to end,
     * alternating JVMs, 4096×14336 3395–4058 µs (median of 200 calls) against 3574–3649 and 1024×2560
     * 126.6–130.6 against 131.1–137.7. At 256 bits the same form was faster at 1024² (22.1–23.3 against
     * 23.2–24.2 µs, kernel alone) but slower at 4096×14336 in every alternating pair (2604–3454 against
     * 2244–3091 µs, 7 pairs), so 256 bits keeps the chain. One or two code registers a pass instead of four
     * measured slower at both widths (1024², 128 bits: 56.4–59.4 µs), eight no faster. The bound is the step's
     * int16 multiply, one per 8 lanes at 128 bits: twice 256 bits' multiplies per weight.
     */
    private static void int8PassFromLoad(int[] yb, int yOff, int[] pre, int pOff, short[] codes, int at, int p0, int p1, int[] acc, int accOff) {
        for (int start = p0; start < p1; start += RUN) {
            int end = Math.min(p1, start + RUN);
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int p = start; p < end; p++) {
                int line = at + GROUP_PAIR * p, y = yOff + STEPS * (p - p0);
                IntVector c0 = ShortVector.fromArray(S, codes, line).reinterpretAsInts(), c1 = ShortVector.fromArray(S, codes, line + SL).reinterpretAsInts();
                IntVector c2 = ShortVector.fromArray(S, codes, line + 2 * SL).reinterpretAsInts(), c3 = ShortVector.fromArray(S, codes, line + 3 * SL).reinterpretAsInts();
                ShortVector v = IntVector.broadcast(I, yb[y]).reinterpretAsShorts();
                s0 = s0.add(c0.reinterpretAsShorts().mul(v)); s1 = s1.add(c1.reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.reinterpretAsShorts().mul(v)); s3 = s3.add(c3.reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 1]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 2).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 2).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 2).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 2).reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 2]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 4).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 4).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 4).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 4).reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 3]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 6).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 6).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 6).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 6).reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 4]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 8).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 8).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 8).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 8).reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 5]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 10).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 10).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 10).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 10).reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 6]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 12).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 12).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 12).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 12).reinterpretAsShorts().mul(v));
                v = IntVector.broadcast(I, yb[y + 7]).reinterpretAsShorts();
                s0 = s0.add(c0.lanewise(VectorOperators.LSHR, 14).reinterpretAsShorts().mul(v));
                s1 = s1.add(c1.lanewise(VectorOperators.LSHR, 14).reinterpretAsShorts().mul(v));
                s2 = s2.add(c2.lanewise(VectorOperators.LSHR, 14).reinterpretAsShorts().mul(v));
                s3 = s3.add(c3.lanewise(VectorOperators.LSHR, 14).reinterpretAsShorts().mul(v));
            }
            // Each lane: low half + high half + corr, read as a signed int16 (see the class comment), into int32.
            int corr = -(pre[pOff + end] - pre[pOff + start]);
            IntVector w0 = s0.reinterpretAsInts(), w1 = s1.reinterpretAsInts(), w2 = s2.reinterpretAsInts(), w3 = s3.reinterpretAsInts();
            w0 = w0.add(w0.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            w1 = w1.add(w1.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            w2 = w2.add(w2.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            w3 = w3.add(w3.lanewise(VectorOperators.LSHR, 16)).add(corr).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            IntVector.fromArray(I, acc, accOff).add(w0).intoArray(acc, accOff);
            IntVector.fromArray(I, acc, accOff + L).add(w1).intoArray(acc, accOff + L);
            IntVector.fromArray(I, acc, accOff + 2 * L).add(w2).intoArray(acc, accOff + 2 * L);
            IntVector.fromArray(I, acc, accOff + 3 * L).add(w3).intoArray(acc, accOff + 3 * L);
        }
    }

    // ---- four activation rows ---------------------------------------------------------------------------

    /**
     * xb[PAIR_LANES·ROWS·(p − p0) + ROWS·L·j + L·r + l] ← {@link #pairStep} of pair p, step j of row r
     * (whose padded values start at xs[xr]), every lane l, for pairs [p0, p1) and the 4 rows: each
     * activation register loaded by the four-row kernel.
     */
    static void broadcast(short[] xs, int xa, int xb, int xc, int xd, int p0, int p1, int[] out) {
        for (int p = p0; p < p1; p++)
            for (int j = 0; j < 8; j++) {
                int o = 4 * PAIR_LANES * (p - p0) + 4 * L * j, c = PAIR * p;
                IntVector.broadcast(I, pairStep(xs, xa + c, j)).intoArray(out, o);
                IntVector.broadcast(I, pairStep(xs, xb + c, j)).intoArray(out, o + L);
                IntVector.broadcast(I, pairStep(xs, xc + c, j)).intoArray(out, o + 2 * L);
                IntVector.broadcast(I, pairStep(xs, xd + c, j)).intoArray(out, o + 3 * L);
            }
    }

    /**
     * {@link #int8Row} for four activation rows at once over at most one run (p1 − p0 ≤ {@link #RUN}):
     * xb holds the rows' activations of pairs [p0, p1) ({@link #broadcast}), pre[pR..] row R's prefix
     * sums, its sums go to acc[aR..]. One code register a pass: each step shifted once and multiplied by
     * the four rows' activations (one multiply and one add each, the activations loaded).
     */
    static void int8Rows4(int[] xb, int[] pre, int pa, int pb, int pc, int pd,
                          short[] codes, int tile, int groupStride, int p0, int p1, int[] acc, int aa, int ab, int ac, int ad) {
        for (int g = 0; g < PER_LINE; g++) {
            int at = tile + g / STREAMS * groupStride + SL * (g % STREAMS);
            ShortVector sa = ShortVector.zero(S), sb = sa, sc = sa, sd = sa;
            for (int p = p0; p < p1; p++) {
                IntVector c = ShortVector.fromArray(S, codes, at + GROUP_PAIR * p).reinterpretAsInts();
                int o = 4 * PAIR_LANES * (p - p0);
                for (int j = 0; j < 8; j++) {
                    // Every vector expression in place, as in int8Pass.
                    ShortVector q = c.reinterpretAsShorts();
                    int x = o + 4 * L * j;
                    sa = sa.add(q.mul(IntVector.fromArray(I, xb, x).reinterpretAsShorts()));
                    sb = sb.add(q.mul(IntVector.fromArray(I, xb, x + L).reinterpretAsShorts()));
                    sc = sc.add(q.mul(IntVector.fromArray(I, xb, x + 2 * L).reinterpretAsShorts()));
                    sd = sd.add(q.mul(IntVector.fromArray(I, xb, x + 3 * L).reinterpretAsShorts()));
                    c = c.lanewise(VectorOperators.LSHR, 2);
                }
            }
            int o = L * g;
            IntVector wa = sa.reinterpretAsInts(), wb = sb.reinterpretAsInts(), wc = sc.reinterpretAsInts(), wd = sd.reinterpretAsInts();
            wa = wa.add(wa.lanewise(VectorOperators.LSHR, 16)).add(-(pre[pa + p1] - pre[pa + p0])).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            wb = wb.add(wb.lanewise(VectorOperators.LSHR, 16)).add(-(pre[pb + p1] - pre[pb + p0])).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            wc = wc.add(wc.lanewise(VectorOperators.LSHR, 16)).add(-(pre[pc + p1] - pre[pc + p0])).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            wd = wd.add(wd.lanewise(VectorOperators.LSHR, 16)).add(-(pre[pd + p1] - pre[pd + p0])).lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16);
            IntVector.fromArray(I, acc, aa + o).add(wa).intoArray(acc, aa + o);
            IntVector.fromArray(I, acc, ab + o).add(wb).intoArray(acc, ab + o);
            IntVector.fromArray(I, acc, ac + o).add(wc).intoArray(acc, ac + o);
            IntVector.fromArray(I, acc, ad + o).add(wd).intoArray(acc, ad + o);
        }
    }
}
