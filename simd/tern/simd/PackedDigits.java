package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Kernels of {@link PackedMatmul} for machines whose vector permutes cannot look a 5-bit field up in a
 * 32-entry table in one instruction: AVX2 (no {@code vpermw}/{@code vpermi2w}; the Vector API's
 * {@code selectFrom(v1, v2)} on int16 lanes is lowered to two rearranges, each emulated with
 * {@code vpshufb} on both 128-bit halves, a lane swap and a blend, plus index conversion and a blend:
 * measured 5.5 ns per 16 lookups against 1.0 ns with AVX-512, which left the AVX2 lookup matvec at
 * 0.19× ggml's TQ2_0 on one core) and, by default, 128-bit machines.
 * Same file layout ({@link PackedTernary}); instead of a lookup, each field is decoded arithmetically.
 *
 * <p>A field k = d₀ + 3d₁ + 9d₂ (digits dᵢ = tᵢ + 1 ∈ {0, 1, 2}) of triple (x₀, x₁, x₂) contributes
 * Σ tᵢxᵢ = x₀·k + (x₁ − 3x₀)·⌊k/3⌋ + (x₂ − 3x₁)·⌊k/9⌋ − (13x₀ + 4(x₁ − 3x₀) + (x₂ − 3x₁)), since
 * ⌊k/3⌋ = d₁ + 3d₂ and ⌊k/9⌋ = d₂. ⌊k/3⌋ = (11k) ≫ 5 and ⌊k/9⌋ = (57k) ≫ 9 for k &lt; 32 (checked for
 * every field by PackedMatmulTest); so per 9 weights × 2L rows: three field extractions
 * (and; shift, and; shift — bit 15 is zero), four multiplies and shifts for the quotients, nine
 * multiplies and nine adds, all single instructions on AVX2 and NEON ({@code vpmullw}, {@code mul}).
 * The constant (σ per group, the same for every row) is subtracted once per run of groups.
 *
 * <p>Tables, in the first entries of each group's {@link PackedKernels#GROUP_TABLE} slots: int8, the
 * nine coefficients (a, b, c) = (x₀, x₁ − 3x₀, x₂ − 3x₁) of its three triples, then σ; float, the
 * group's nine activations (the float kernel decodes the digits themselves, see {@link #floatPass}).
 * Codes the packer never writes (a field ≥ 27) give unspecified sums here, where the lookup kernels give zero: the packer and {@link PackedTernary#trit}
 * reject them.
 *
 * <p>Int8: the int16 lanes wrap, and wrapping is exact: the raw sums of a run of
 * {@link PackedVector#INT16_GROUPS} groups may overflow, but their true value (raw − Σσ) is below 2¹⁵ in
 * magnitude, so raw − Σσ mod 2¹⁶ read as signed is that value. Float: see {@link #floatPass}.
 */
final class PackedDigits implements PackedKernels {
    static final PackedDigits INSTANCE = new PackedDigits();

    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final VectorSpecies<Short> S = Species.S;
    private static final int L = Species.FLOATS, SL = 2 * L;
    /** Bytes of one register; registers per 128-byte group line. */
    private static final int VB = 4 * L, PER_LINE = PackedTernary.LINE / VB;
    /**
     * Code registers one int8 pass carries: 4, a whole line of a tile at 256 bits (two passes at 128), so
     * each coefficient broadcast serves 64 rows; 4 codes, 4 sums, 3 coefficients and the temporaries fit
     * AVX2's 16 registers. (Other counts were not measured.)
     */
    private static final int STREAMS = 4;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int LINE = PackedTernary.LINE, INT16_GROUPS = PackedVector.INT16_GROUPS;
    /** Where σ sits in a group's table slots. */
    private static final int SIGMA = 9;

    private PackedDigits() {}

    static String layout() { return "PackedDigits: fields decoded by multiply-shift, " + STREAMS + " code registers a pass"; }

    // ---- tables ------------------------------------------------------------------------------------

    @Override
    public void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl, int tOff) {
        // Float: the activations themselves (see floatPass), the 9 of a group in its first entries.
        int groups = PackedKernels.triples(c0, c1) / 3;
        for (int g = 0, c = c0; g < groups; g++)
            for (int i = 0; i < PackedTernary.GROUP; i++, c++) tbl[tOff + GROUP_TABLE * g + i] = c < c1 ? x[xOff + c] : 0f;
    }

    @Override
    public float quantizeInt8(float[] x, int off, int n, byte[] q) { return Int8Quantizer.quantize(x, off, n, q); }

    @Override
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff) {
        int groups = PackedKernels.triples(c0, c1) / 3;
        for (int g = 0, c = c0; g < groups; g++) {
            int t = tOff + GROUP_TABLE * g, sigma = 0;
            for (int j = 0; j < 3; j++, c += PackedTernary.TRIPLE) {
                int x0 = c < c1 ? q[qOff + c] : 0, x1 = c + 1 < c1 ? q[qOff + c + 1] : 0, x2 = c + 2 < c1 ? q[qOff + c + 2] : 0;
                int a = x0, b = x1 - 3 * x0, cc = x2 - 3 * x1;
                tbl[t + 3 * j] = (short) a;
                tbl[t + 3 * j + 1] = (short) b;
                tbl[t + 3 * j + 2] = (short) cc;
                sigma += 13 * a + 4 * b + cc;
            }
            tbl[t + SIGMA] = (short) sigma;
        }
    }

    // ---- int8 activations --------------------------------------------------------------------------

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        for (int p = 0; p < PER_LINE; p += STREAMS)
            int8Pass(tbl, tOff, codes, tile + (long) VB * p, g0, g1, acc, accOff + SL * p);
    }

    /** acc[accOff + 0..4·2L) += the sums of the four code registers at line offset {@code at}. */
    private static void int8Pass(short[] tbl, int tOff, MemorySegment codes, long at, int g0, int g1, int[] acc, int accOff) {
        for (int start = g0; start < g1; start += INT16_GROUPS) {
            int end = Math.min(g1, start + INT16_GROUPS);
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            int sigma = 0;
            for (int g = start; g < end; g++) {
                int t = tOff + GROUP_TABLE * (g - g0);
                long line = at + (long) LINE * g;
                ShortVector c0 = ShortVector.fromMemorySegment(S, codes, line, LE), c1 = ShortVector.fromMemorySegment(S, codes, line + VB, LE);
                ShortVector c2 = ShortVector.fromMemorySegment(S, codes, line + 2 * VB, LE), c3 = ShortVector.fromMemorySegment(S, codes, line + 3 * VB, LE);
                sigma += tbl[t + SIGMA];
                // Triple 0: k = code & 31.
                ShortVector a = ShortVector.broadcast(S, tbl[t]), b = ShortVector.broadcast(S, tbl[t + 1]), c = ShortVector.broadcast(S, tbl[t + 2]);
                ShortVector k0 = c0.and((short) 31), k1 = c1.and((short) 31), k2 = c2.and((short) 31), k3 = c3.and((short) 31);
                s0 = s0.add(k0.mul(a)).add(k0.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k0.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s1 = s1.add(k1.mul(a)).add(k1.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k1.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s2 = s2.add(k2.mul(a)).add(k2.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k2.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s3 = s3.add(k3.mul(a)).add(k3.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k3.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                // Triple 1: k = (code >> 5) & 31.
                a = ShortVector.broadcast(S, tbl[t + 3]); b = ShortVector.broadcast(S, tbl[t + 4]); c = ShortVector.broadcast(S, tbl[t + 5]);
                k0 = c0.lanewise(VectorOperators.LSHR, 5).and((short) 31); k1 = c1.lanewise(VectorOperators.LSHR, 5).and((short) 31);
                k2 = c2.lanewise(VectorOperators.LSHR, 5).and((short) 31); k3 = c3.lanewise(VectorOperators.LSHR, 5).and((short) 31);
                s0 = s0.add(k0.mul(a)).add(k0.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k0.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s1 = s1.add(k1.mul(a)).add(k1.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k1.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s2 = s2.add(k2.mul(a)).add(k2.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k2.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s3 = s3.add(k3.mul(a)).add(k3.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k3.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                // Triple 2: k = code >> 10 (bit 15 is zero).
                a = ShortVector.broadcast(S, tbl[t + 6]); b = ShortVector.broadcast(S, tbl[t + 7]); c = ShortVector.broadcast(S, tbl[t + 8]);
                k0 = c0.lanewise(VectorOperators.LSHR, 10); k1 = c1.lanewise(VectorOperators.LSHR, 10);
                k2 = c2.lanewise(VectorOperators.LSHR, 10); k3 = c3.lanewise(VectorOperators.LSHR, 10);
                s0 = s0.add(k0.mul(a)).add(k0.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k0.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s1 = s1.add(k1.mul(a)).add(k1.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k1.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s2 = s2.add(k2.mul(a)).add(k2.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k2.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
                s3 = s3.add(k3.mul(a)).add(k3.mul((short) 11).lanewise(VectorOperators.LSHR, 5).mul(b)).add(k3.mul((short) 57).lanewise(VectorOperators.LSHR, 9).mul(c));
            }
            // Raw − Σσ, wrapped (see the class comment), widened in place (no helper: C2 would box).
            ShortVector corr = ShortVector.broadcast(S, (short) -sigma);
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

    // ---- float activations -------------------------------------------------------------------------

    /** Lane selectors that interleave two vectors (lanes 0..L−1 of the pair, then L..2L−1): a, b → a₀ b₀ a₁ b₁ … */
    private static final IntVector INTERLEAVE_LO = interleave(0), INTERLEAVE_HI = interleave(L / 2);

    private static IntVector interleave(int from) {
        int[] idx = new int[L];
        for (int l = 0; l < L; l++) idx[l] = (l % 2 == 0 ? 0 : L) + from + l / 2;
        return IntVector.fromArray(I, idx, 0);
    }

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        for (int p = 0; p < PER_LINE; p += 2)
            floatPass(tbl, tOff, codes, tile + (long) VB * p, g0, g1, acc, accOff + SL * p);
    }

    /**
     * acc[accOff + 0..2·2L) += the f32 sums of the two code registers at line offset {@code at}. The
     * digits are decoded in the int16 lanes as the int8 kernel decodes its quotients, then as tᵢ = dᵢ − 1
     * (t₂ = ⌊k/9⌋ − 1, t₁ = ⌊k/3⌋ − 3⌊k/9⌋ − 1, t₀ = k − 3⌊k/3⌋ − 1), so every product xᵢ·tᵢ is exact
     * (0 or ±xᵢ) and a zero weight adds exactly nothing, as with the lookups: the coefficient form of
     * the int8 kernel cancels large terms, which is exact in integers but not in floats. Each half of a
     * register's int lanes is split into even rows (low halves, sign-extended by two shifts) and odd rows
     * (high halves, one arithmetic shift), converted, and fused multiply-added ({@code convertShape(S2I)}
     * of the upper half measured 2× slower on AVX2). Two
     * registers a pass: each carries two sums, and the converted values take registers of their own.
     */
    private static void floatPass(float[] tbl, int tOff, MemorySegment codes, long at, int g0, int g1, float[] acc, int accOff) {
        FloatVector l0 = FloatVector.zero(F), h0 = l0, l1 = l0, h1 = l0;
        for (int g = g0; g < g1; g++) {
            int t = tOff + GROUP_TABLE * (g - g0);
            long line = at + (long) LINE * g;
            ShortVector c0 = ShortVector.fromMemorySegment(S, codes, line, LE), c1 = ShortVector.fromMemorySegment(S, codes, line + VB, LE);
            for (int j = 0; j < 3; j++) {
                FloatVector x0 = FloatVector.broadcast(F, tbl[t + 3 * j]), x1 = FloatVector.broadcast(F, tbl[t + 3 * j + 1]);
                FloatVector x2 = FloatVector.broadcast(F, tbl[t + 3 * j + 2]);
                ShortVector k0 = c0.lanewise(VectorOperators.LSHR, 5 * j).and((short) 31), k1 = c1.lanewise(VectorOperators.LSHR, 5 * j).and((short) 31);
                ShortVector q0 = k0.mul((short) 11).lanewise(VectorOperators.LSHR, 5), q1 = k1.mul((short) 11).lanewise(VectorOperators.LSHR, 5);
                ShortVector d0 = k0.mul((short) 57).lanewise(VectorOperators.LSHR, 9), d1 = k1.mul((short) 57).lanewise(VectorOperators.LSHR, 9);
                ShortVector u0 = k0.sub(q0.mul((short) 3).add((short) 1)), u1 = k1.sub(q1.mul((short) 3).add((short) 1));
                ShortVector v0 = q0.sub(d0.mul((short) 3).add((short) 1)), v1 = q1.sub(d1.mul((short) 3).add((short) 1));
                ShortVector w0 = d0.sub((short) 1), w1 = d1.sub((short) 1);
                l0 = x0.fma(u0.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), l0);
                h0 = x0.fma(u0.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), h0);
                l1 = x0.fma(u1.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), l1);
                h1 = x0.fma(u1.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), h1);
                l0 = x1.fma(v0.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), l0);
                h0 = x1.fma(v0.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), h0);
                l1 = x1.fma(v1.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), l1);
                h1 = x1.fma(v1.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), h1);
                l0 = x2.fma(w0.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), l0);
                h0 = x2.fma(w0.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), h0);
                l1 = x2.fma(w1.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), l1);
                h1 = x2.fma(w1.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0).reinterpretAsFloats(), h1);
            }
        }
        // Rows 2l (l0, l1: low halves) and 2l + 1 (h0, h1) back in order; written out (no helper: C2 would box).
        FloatVector.fromArray(F, acc, accOff).add(INTERLEAVE_LO.selectFrom(l0.reinterpretAsInts(), h0.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accOff);
        FloatVector.fromArray(F, acc, accOff + L).add(INTERLEAVE_HI.selectFrom(l0.reinterpretAsInts(), h0.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accOff + L);
        FloatVector.fromArray(F, acc, accOff + SL).add(INTERLEAVE_LO.selectFrom(l1.reinterpretAsInts(), h1.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accOff + SL);
        FloatVector.fromArray(F, acc, accOff + SL + L).add(INTERLEAVE_HI.selectFrom(l1.reinterpretAsInts(), h1.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accOff + SL + L);
    }
}
