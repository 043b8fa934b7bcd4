package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * {@link PackedMatmulHalf4} for eight activation rows: each f16 vector of the LM head is widened once per
 * pass and multiplied into eight rows. Per activation row the arithmetic is exactly the one-row kernel's
 * ({@link PackedFloatVector}): the same four FMA chains over the same columns, reduced as (a0 + a1) + (a2 + a3)
 * in the same butterfly, the same scalar tail; so a row's logits keep their bits whatever else is in the batch.
 *
 * <p>Register blocking (32 zmm): eight rows × four chains would be 32 accumulators, all the registers. So a
 * weight row is read in four passes over its 64-column chunks, one per chain (the chunk's two int vectors,
 * each holding an even-column half and an odd-column half): eight accumulators, the loaded vector, its
 * widened half and the widening's constants, about 14 registers. The chunk's bytes come from memory in the
 * first pass and from L1 in the other three. Each pass leaves its eight accumulators in a scratch array,
 * and the row sums are formed from there in the one-row kernel's order.
 */
final class PackedMatmulHalf8 {
    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final float REBIAS = Float.intBitsToFloat(0x77800000);   // 2^112, as PackedFloatVector
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Activation rows per call. */
    static final int ROWS = 8;

    private PackedMatmulHalf8() {}

    /** y[(m0 + i)·rows + r] ← Σ_c W[r][c]·x[(m0 + i)·cols + c] for i &lt; 8 and r in [r0, r1). */
    static void rows(MemorySegment w, int cols, float[] x, int m0, float[] y, int rows, int r0, int r1) {
        int n = I.length(), step = 2 * n, bulk = cols - cols % (2 * step);
        // Row i's activations reordered per 64-column chunk c as chain k's widened lanes pair with them
        // (the one-row kernel's even/odd split): chain k's 16 at xs[i·bulk + c + 16k ..].
        float[] xs = new float[ROWS * bulk];
        for (int i = 0; i < ROWS; i++)
            for (int c = 0; c < bulk; c += 2 * step)
                for (int k = 0; k < n; k++) {
                    int at = i * bulk + c, src = (m0 + i) * cols + c;
                    xs[at + k] = x[src + 2 * k];
                    xs[at + n + k] = x[src + 2 * k + 1];
                    xs[at + 2 * n + k] = x[src + step + 2 * k];
                    xs[at + 3 * n + k] = x[src + step + 2 * k + 1];
                }
        // chains[(8k + i)·16 ..]: chain k of activation row i, for the weight row in hand.
        float[] chains = new float[4 * ROWS * n];
        for (int r = r0; r < r1; r++) {
            long base = 2L * r * cols;
            evenChain(w, base, bulk, xs, 0, chains, 0);
            oddChain(w, base, bulk, xs, n, chains, ROWS * n);
            evenChain(w, base + 2L * step, bulk, xs, 2 * n, chains, 2 * ROWS * n);
            oddChain(w, base + 2L * step, bulk, xs, 3 * n, chains, 3 * ROWS * n);
            for (int i = 0; i < ROWS; i++) {
                FloatVector a0 = FloatVector.fromArray(F, chains, i * n), a1 = FloatVector.fromArray(F, chains, (ROWS + i) * n);
                FloatVector a2 = FloatVector.fromArray(F, chains, (2 * ROWS + i) * n), a3 = FloatVector.fromArray(F, chains, (3 * ROWS + i) * n);
                float s = VectorSums.sum(a0.add(a1).add(a2.add(a3)));
                long at = (long) r * cols;
                for (int c = bulk; c < cols; c++) s += PackedFloatMatvec.element(w, PackedFloatMatvec.Format.F16, at + c) * x[(m0 + i) * cols + c];
                y[(m0 + i) * rows + r] = s;
            }
        }
    }

    /** One FMA chain of eight rows over the even columns of each chunk's int vector at from + 128c (low halves: magnitude to the f32 position, rebias by the multiply, sign from bit 15). */
    private static void evenChain(MemorySegment w, long from, int bulk, float[] xs, int xOff, float[] chains, int out) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int c = 0; c < bulk; c += 4 * I.length()) {
            IntVector v = IntVector.fromMemorySegment(I, w, from + 2L * c, LE);
            FloatVector h = v.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .or(v.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
            a0 = h.fma(FloatVector.fromArray(F, xs, 0 * bulk + c + xOff), a0);
            a1 = h.fma(FloatVector.fromArray(F, xs, 1 * bulk + c + xOff), a1);
            a2 = h.fma(FloatVector.fromArray(F, xs, 2 * bulk + c + xOff), a2);
            a3 = h.fma(FloatVector.fromArray(F, xs, 3 * bulk + c + xOff), a3);
            a4 = h.fma(FloatVector.fromArray(F, xs, 4 * bulk + c + xOff), a4);
            a5 = h.fma(FloatVector.fromArray(F, xs, 5 * bulk + c + xOff), a5);
            a6 = h.fma(FloatVector.fromArray(F, xs, 6 * bulk + c + xOff), a6);
            a7 = h.fma(FloatVector.fromArray(F, xs, 7 * bulk + c + xOff), a7);
        }
        a0.intoArray(chains, out + 0 * I.length());
        a1.intoArray(chains, out + 1 * I.length());
        a2.intoArray(chains, out + 2 * I.length());
        a3.intoArray(chains, out + 3 * I.length());
        a4.intoArray(chains, out + 4 * I.length());
        a5.intoArray(chains, out + 5 * I.length());
        a6.intoArray(chains, out + 6 * I.length());
        a7.intoArray(chains, out + 7 * I.length());
    }

    /** {@link #evenChain} over the odd columns (high halves: the same fields 16 bits up, the sign in place). */
    private static void oddChain(MemorySegment w, long from, int bulk, float[] xs, int xOff, float[] chains, int out) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int c = 0; c < bulk; c += 4 * I.length()) {
            IntVector v = IntVector.fromMemorySegment(I, w, from + 2L * c, LE);
            FloatVector h = v.and(0x7FFF0000).lanewise(VectorOperators.LSHR, 3).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .or(v.and(0x80000000)).reinterpretAsFloats();
            a0 = h.fma(FloatVector.fromArray(F, xs, 0 * bulk + c + xOff), a0);
            a1 = h.fma(FloatVector.fromArray(F, xs, 1 * bulk + c + xOff), a1);
            a2 = h.fma(FloatVector.fromArray(F, xs, 2 * bulk + c + xOff), a2);
            a3 = h.fma(FloatVector.fromArray(F, xs, 3 * bulk + c + xOff), a3);
            a4 = h.fma(FloatVector.fromArray(F, xs, 4 * bulk + c + xOff), a4);
            a5 = h.fma(FloatVector.fromArray(F, xs, 5 * bulk + c + xOff), a5);
            a6 = h.fma(FloatVector.fromArray(F, xs, 6 * bulk + c + xOff), a6);
            a7 = h.fma(FloatVector.fromArray(F, xs, 7 * bulk + c + xOff), a7);
        }
        a0.intoArray(chains, out + 0 * I.length());
        a1.intoArray(chains, out + 1 * I.length());
        a2.intoArray(chains, out + 2 * I.length());
        a3.intoArray(chains, out + 3 * I.length());
        a4.intoArray(chains, out + 4 * I.length());
        a5.intoArray(chains, out + 5 * I.length());
        a6.intoArray(chains, out + 6 * I.length());
        a7.intoArray(chains, out + 7 * I.length());
    }
}
