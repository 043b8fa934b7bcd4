package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static tern.simd.OpsTestSupport.uniform;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.AdamWParams;

/**
 * Kernel by kernel, the Vector API implementation against its scalar twin at every length 0..300 and at
 * unaligned offsets (so ragged tails and misaligned vectors are covered). Elementwise kernels perform the
 * same f32 operations in the same order (exponentials through Exp and its lane-wise twin ExpVector) and must
 * agree bit for bit; reductions may differ in summation order (bounds stated per kernel).
 */
class FloatKernelsTest {
    private static final FloatKernels S = ScalarFloatKernels.INSTANCE, V = VectorFloatKernels.INSTANCE;

    private static MemorySegment segment(float[] values) {
        MemorySegment s = Scratch.floats(values.length);
        MemorySegment.copy(values, 0, s, ValueLayout.JAVA_FLOAT, 0, values.length);
        return s;
    }

    private static float[] read(MemorySegment s, int n) {
        return s.asSlice(0, (long) n * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
    }

    @Property(tries = 80)
    void elementwiseKernelsAgreeBitForBit(@ForAll @IntRange(min = 0, max = 300) int n,
                                          @ForAll @IntRange(min = 0, max = 7) int offset, @ForAll long seed) {
        Random rnd = new Random(seed);
        int len = n + offset;
        float[] a = uniform(rnd, len, 4), b = uniform(rnd, len, 4), y = uniform(rnd, len, 4);
        float alpha = (float) rnd.nextGaussian();
        float[] c = uniform(rnd, len, 4);
        for (int kind = 0; kind < 7; kind++) {
            MemorySegment outS = segment(y), outV = segment(y);
            MemorySegment as = segment(a), bs = segment(b), cs = segment(c);
            switch (kind) {
                case 0 -> { S.axpy(alpha, as, offset, outS, offset, n); V.axpy(alpha, as, offset, outV, offset, n); }
                case 1 -> { S.scale(alpha, as, offset, outS, offset, n); V.scale(alpha, as, offset, outV, offset, n); }
                case 2 -> { S.add(as, offset, bs, offset, outS, offset, n); V.add(as, offset, bs, offset, outV, offset, n); }
                case 3 -> { S.scaledProduct(alpha, as, offset, bs, offset, outS, offset, n); V.scaledProduct(alpha, as, offset, bs, offset, outV, offset, n); }
                case 4 -> { S.softmaxGrad(as, offset, bs, offset, alpha, outS, offset, n); V.softmaxGrad(as, offset, bs, offset, alpha, outV, offset, n); }
                case 5 -> { S.softmaxGradEach(alpha, as, offset, bs, offset, cs, offset, outS, offset, n); V.softmaxGradEach(alpha, as, offset, bs, offset, cs, offset, outV, offset, n); }
                default -> { S.addScaledProduct(alpha, as, offset, bs, offset, outS, offset, n); V.addScaledProduct(alpha, as, offset, bs, offset, outV, offset, n); }
            }
            assertArrayEquals(read(outS, len), read(outV, len), "kernel " + kind + " at n " + n);
        }
    }

    /**
     * axpy's ragged end is one masked vector: over lengths up to three vectors (every tail length at every width),
     * x ending exactly at its segment's end (a masked lane past it must not be touched, nor fault) and y with
     * guard elements on both sides, the result equals the scalar twin's bit for bit and the guards are unchanged.
     */
    @Property(tries = 200)
    void axpyTailIsMaskedAndExact(@ForAll @IntRange(min = 0, max = 48) int n, @ForAll @IntRange(min = 0, max = 7) int offset,
                                  @ForAll @IntRange(min = 0, max = 9) int guard, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] x = uniform(rnd, offset + n, 4), y = uniform(rnd, guard + n + guard, 4);
        float alpha = (float) rnd.nextGaussian();
        MemorySegment xs = segment(x), ys = segment(y), yv = segment(y);
        S.axpy(alpha, xs, offset, ys, guard, n);
        V.axpy(alpha, xs, offset, yv, guard, n);
        float[] expected = read(ys, y.length), actual = read(yv, y.length);
        assertArrayEquals(expected, actual, "axpy at n " + n);
        for (int i = 0; i < guard; i++) {
            assertEquals(Float.floatToRawIntBits(y[i]), Float.floatToRawIntBits(actual[i]), "guard before, " + i);
            assertEquals(Float.floatToRawIntBits(y[guard + n + i]), Float.floatToRawIntBits(actual[guard + n + i]), "guard after, " + i);
        }
    }

    @Property(tries = 80)
    void rotateAndAdamwAgreeBitForBit(@ForAll @IntRange(min = 0, max = 150) int half,
                                      @ForAll @IntRange(min = 0, max = 7) int offset, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] x = uniform(rnd, offset + 2 * half, 3), cos = uniform(rnd, half + 3, 1), sin = uniform(rnd, half + 3, 1);
        MemorySegment outS = segment(x), outV = segment(x);
        S.rotate(outS, offset, cos, sin, 3, half, outS, offset);
        V.rotate(outV, offset, cos, sin, 3, half, outV, offset);
        assertArrayEquals(read(outS, x.length), read(outV, x.length), "rotate");

        int n = 2 * half;
        float[] p = uniform(rnd, n, 1), g = uniform(rnd, n, 1), m = uniform(rnd, n, 0.1), v = uniform(rnd, n, 0.01);
        for (int i = 0; i < n; i++) v[i] = Math.abs(v[i]);
        AdamW.Constants c = AdamW.Constants.of(new AdamWParams(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 0.5f));
        MemorySegment[] s = {segment(p), segment(g), segment(m), segment(v)}, w = {segment(p), segment(g), segment(m), segment(v)};
        S.adamw(s[0], s[1], s[2], s[3], 0, n, c);
        V.adamw(w[0], w[1], w[2], w[3], 0, n, c);
        for (int t = 0; t < 4; t++) assertArrayEquals(read(s[t], n), read(w[t], n), "adamw tensor " + t);
    }

    @Property(tries = 80)
    void reductionsAgreeUpToSummationOrder(@ForAll @IntRange(min = 0, max = 300) int n,
                                           @ForAll @IntRange(min = 0, max = 7) int offset, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] a = uniform(rnd, n + offset, 4), b = uniform(rnd, n + offset, 4);
        MemorySegment as = segment(a), bs = segment(b);
        // max and maxAbs are exact whatever the order.
        assertEquals(S.max(as, offset, n), V.max(as, offset, n));
        assertEquals(S.maxAbs(as, offset, n), V.maxAbs(as, offset, n));
        assertEquals(S.allFinite(as, offset, n), V.allFinite(as, offset, n));
        // Double sums of exact f32 terms: n·2^-52 relative.
        double ss = S.sumOfSquares(as, offset, n);
        assertEquals(ss, V.sumOfSquares(as, offset, n), Math.max(1, n) * 0x1p-52 * ss);
        double sa = S.sumOfAbs(as, offset, n);
        assertEquals(sa, V.sumOfAbs(as, offset, n), Math.max(1, n) * 0x1p-52 * sa);
        // f32 dot of n ≤ 300 terms: the two orders differ by ≤ n·2^-24 of Σ|a·b|.
        double absDot = 0;
        for (int i = offset; i < offset + n; i++) absDot += Math.abs((double) a[i] * b[i]);
        assertEquals(S.dot(as, offset, bs, offset, n), V.dot(as, offset, bs, offset, n), n * 0x1p-24 * absDot + 1e-30);
    }

    @Property(tries = 80)
    void exponentialKernelsAgreeBitForBit(@ForAll @IntRange(min = 0, max = 300) int n,
                                          @ForAll @IntRange(min = 0, max = 7) int offset, @ForAll long seed) {
        Random rnd = new Random(seed);
        int len = n + offset;
        float[] x = uniform(rnd, len, 20), gate = uniform(rnd, len, 20), up = uniform(rnd, len, 2), dout = uniform(rnd, len, 1);
        MemorySegment xs = segment(x);
        float shift = S.max(xs, offset, n);
        // Every term is the same bits (Exp and ExpVector); only the double summation order differs.
        double es = S.sumExp(xs, offset, n, shift), ev = V.sumExp(xs, offset, n, shift);
        assertEquals(es, ev, Math.max(1, n) * 0x1p-52 * es);
        MemorySegment outS = Scratch.floats(len), outV = Scratch.floats(len);
        S.expShiftScale(xs, offset, n, shift, 0.5f, outS, offset);
        V.expShiftScale(xs, offset, n, shift, 0.5f, outV, offset);
        assertArrayEquals(read(outS, len), read(outV, len), "expShiftScale");
        MemorySegment shifts = segment(uniform(rnd, len, 20));
        S.expShiftEach(xs, offset, shifts, offset, n, outS, offset);
        V.expShiftEach(xs, offset, shifts, offset, n, outV, offset);
        assertArrayEquals(read(outS, len), read(outV, len), "expShiftEach");
        MemorySegment gs = segment(gate), us = segment(up), ds = segment(dout);
        S.swiglu(gs, us, outS, offset, n);
        V.swiglu(gs, us, outV, offset, n);
        assertArrayEquals(read(outS, len), read(outV, len), "swiglu");
        MemorySegment dgS = Scratch.floats(len), dgV = Scratch.floats(len);
        S.swigluBackward(ds, gs, us, dgS, outS, offset, n);
        V.swigluBackward(ds, gs, us, dgV, outV, offset, n);
        assertArrayEquals(read(dgS, len), read(dgV, len), "swigluBackward dgate");
        assertArrayEquals(read(outS, len), read(outV, len), "swigluBackward dup");
    }
}
