package tern.simd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API kernels: each loop runs whole vectors of the width {@link Vectorization} chose over the segment and
 * leaves the ragged end (shorter than one vector) to {@link ScalarFloatKernels}. Loaded only when
 * {@link Vectorization#ENABLED}. Elementwise kernels use the same operations in the same order as the scalar
 * twin (exponentials through {@link ExpVector}, the lane-wise twin of {@link Exp}), so they agree bit for
 * bit; reductions differ only in summation order.
 */
public final class VectorFloatKernels implements FloatKernels {
    public static final VectorFloatKernels INSTANCE = new VectorFloatKernels();

    private static final VectorSpecies<Float> F = Species.F;
    /** Doubles of the same register width: one float vector widens into two of these (parts 0 and 1). */
    private static final VectorSpecies<Double> D = Species.D;
    private static final int L = F.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ScalarFloatKernels TAIL = ScalarFloatKernels.INSTANCE;

    private VectorFloatKernels() {}

    private static FloatVector load(MemorySegment s, long index) {
        return FloatVector.fromMemorySegment(F, s, index * Float.BYTES, ORDER);
    }

    private static void store(FloatVector v, MemorySegment s, long index) {
        v.intoMemorySegment(s, index * Float.BYTES, ORDER);
    }

    /** Both halves of a float vector widened to double (exact) and added. */
    private static DoubleVector widenSum(FloatVector v) {
        DoubleVector lo = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 0);
        DoubleVector hi = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 1);
        return lo.add(hi);
    }

    @Override
    public float dot(MemorySegment a, long ai, MemorySegment b, long bi, int n) {
        int i = 0;
        float sum = 0;
        if (n >= 4 * L) {
            // Four independent accumulators hide the FMA latency (4 cycles on current x86) behind each other.
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int bound = n - n % (4 * L); i < bound; i += 4 * L) {
                s0 = load(a, ai + i).fma(load(b, bi + i), s0);
                s1 = load(a, ai + i + L).fma(load(b, bi + i + L), s1);
                s2 = load(a, ai + i + 2 * L).fma(load(b, bi + i + 2 * L), s2);
                s3 = load(a, ai + i + 3 * L).fma(load(b, bi + i + 3 * L), s3);
            }
            sum = VectorSums.sum(s0.add(s1).add(s2.add(s3)));
        }
        if (n - i >= L) {
            FloatVector s = FloatVector.zero(F);
            for (int bound = F.loopBound(n); i < bound; i += L) s = load(a, ai + i).fma(load(b, bi + i), s);
            sum += VectorSums.sum(s);
        }
        return sum + TAIL.dot(a, ai + i, b, bi + i, n - i);
    }

    @Override
    public double sumOfSquares(MemorySegment x, long xi, int n) {
        DoubleVector acc = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = load(x, xi + i);
            DoubleVector lo = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector hi = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 1);
            acc = lo.fma(lo, hi.fma(hi, acc));   // squares of floats are exact in double
        }
        return VectorSums.sum(acc) + TAIL.sumOfSquares(x, xi + i, n - i);
    }

    @Override
    public double sumOfAbs(MemorySegment x, long xi, int n) {
        DoubleVector acc = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) acc = acc.add(widenSum(load(x, xi + i).abs()));
        return VectorSums.sum(acc) + TAIL.sumOfAbs(x, xi + i, n - i);
    }

    @Override
    public float maxAbs(MemorySegment x, long xi, int n) {
        FloatVector m = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) m = m.max(load(x, xi + i).abs());
        return Math.max(m.reduceLanes(VectorOperators.MAX), TAIL.maxAbs(x, xi + i, n - i));
    }

    @Override
    public float max(MemorySegment x, long xi, int n) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) m = m.max(load(x, xi + i));
        return Math.max(m.reduceLanes(VectorOperators.MAX), TAIL.max(x, xi + i, n - i));
    }

    @Override
    public boolean allFinite(MemorySegment x, long xi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            VectorMask<Float> finite = load(x, xi + i).test(VectorOperators.IS_FINITE);
            if (!finite.allTrue()) return false;
        }
        return TAIL.allFinite(x, xi + i, n - i);
    }

    /**
     * The ragged end runs as one masked vector, not a scalar loop: the attention backward calls this on rows of
     * every length 1..T, so up to L − 1 scalar steps per call were a visible share of its time. Lane by lane the
     * same fused multiply-add as the scalar twin (same bits); masked-off lanes are neither read nor written.
     */
    @Override
    public void axpy(float alpha, MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) store(load(x, xi + i).fma(a, load(y, yi + i)), y, yi + i);
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            long yAt = (yi + i) * Float.BYTES;
            FloatVector.fromMemorySegment(F, x, (xi + i) * Float.BYTES, ORDER, m)
                    .fma(a, FloatVector.fromMemorySegment(F, y, yAt, ORDER, m))
                    .intoMemorySegment(y, yAt, ORDER, m);
        }
    }

    @Override
    public void scale(float alpha, MemorySegment x, long xi, MemorySegment out, long oi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) store(load(x, xi + i).mul(alpha), out, oi + i);
        TAIL.scale(alpha, x, xi + i, out, oi + i, n - i);
    }

    @Override
    public void add(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment out, long oi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) store(load(a, ai + i).add(load(b, bi + i)), out, oi + i);
        TAIL.add(a, ai + i, b, bi + i, out, oi + i, n - i);
    }

    @Override
    public void scaledProduct(float alpha, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment out, long oi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            store(load(a, ai + i).mul(alpha).mul(load(b, bi + i)), out, oi + i);
        TAIL.scaledProduct(alpha, a, ai + i, b, bi + i, out, oi + i, n - i);
    }

    @Override
    public void addScaledProduct(float alpha, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            store(load(a, ai + i).mul(alpha).fma(load(b, bi + i), load(y, yi + i)), y, yi + i);
        TAIL.addScaledProduct(alpha, a, ai + i, b, bi + i, y, yi + i, n - i);
    }

    @Override
    public void softmaxGrad(MemorySegment p, long pi, MemorySegment d, long di, float shift, MemorySegment out, long oi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            store(load(p, pi + i).mul(load(d, di + i).sub(shift)), out, oi + i);
        TAIL.softmaxGrad(p, pi + i, d, di + i, shift, out, oi + i, n - i);
    }

    @Override
    public void fill(float v, MemorySegment out, long oi, int n) {
        FloatVector value = FloatVector.broadcast(F, v);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) store(value, out, oi + i);
        TAIL.fill(v, out, oi + i, n - i);
    }

    @Override
    public double sumExp(MemorySegment x, long xi, int n, float shift) {
        DoubleVector acc = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            acc = acc.add(widenSum(ExpVector.exp(load(x, xi + i).sub(shift))));
        return VectorSums.sum(acc) + TAIL.sumExp(x, xi + i, n - i, shift);
    }

    @Override
    public void expShiftScale(MemorySegment x, long xi, int n, float shift, float alpha, MemorySegment out, long oi) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            store(ExpVector.exp(load(x, xi + i).sub(shift)).mul(alpha), out, oi + i);
        TAIL.expShiftScale(x, xi + i, n - i, shift, alpha, out, oi + i);
    }

    @Override
    public void expShiftEach(MemorySegment x, long xi, MemorySegment shift, long si, int n, MemorySegment out, long oi) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            store(ExpVector.exp(load(x, xi + i).sub(load(shift, si + i))), out, oi + i);
        TAIL.expShiftEach(x, xi + i, shift, si + i, n - i, out, oi + i);
    }

    @Override
    public void softmaxGradEach(float alpha, MemorySegment p, long pi, MemorySegment d, long di, MemorySegment shift, long si,
                                MemorySegment out, long oi, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            store(load(p, pi + i).mul(load(d, di + i).sub(load(shift, si + i))).mul(alpha), out, oi + i);
        TAIL.softmaxGradEach(alpha, p, pi + i, d, di + i, shift, si + i, out, oi + i, n - i);
    }

    @Override
    public void rotate(MemorySegment x, long xi, float[] cos, float[] sin, int tableOffset, int half, MemorySegment out, long oi) {
        int i = 0;
        for (int bound = F.loopBound(half); i < bound; i += L) {
            FloatVector a = load(x, xi + i), b = load(x, xi + half + i);
            FloatVector c = FloatVector.fromArray(F, cos, tableOffset + i), s = FloatVector.fromArray(F, sin, tableOffset + i);
            store(a.mul(c).sub(b.mul(s)), out, oi + i);
            store(b.mul(c).add(a.mul(s)), out, oi + half + i);
        }
        // The tail pairs (i, i+half) for the remaining i: shift both halves' bases by i.
        if (i < half) rotateTail(x, xi, cos, sin, tableOffset, half, out, oi, i);
    }

    private static void rotateTail(MemorySegment x, long xi, float[] cos, float[] sin, int tableOffset, int half,
                                   MemorySegment out, long oi, int from) {
        for (int i = from; i < half; i++) {
            float a = ScalarFloatKernels.get(x, xi + i), b = ScalarFloatKernels.get(x, xi + half + i);
            float c = cos[tableOffset + i], s = sin[tableOffset + i];
            ScalarFloatKernels.set(out, oi + i, a * c - b * s);
            ScalarFloatKernels.set(out, oi + half + i, b * c + a * s);
        }
    }

    @Override
    public void swiglu(MemorySegment gate, MemorySegment up, MemorySegment out, long from, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector g = load(gate, from + i);
            FloatVector sig = ONE.div(ExpVector.exp(g.neg()).add(1f));
            store(g.mul(sig).mul(load(up, from + i)), out, from + i);
        }
        TAIL.swiglu(gate, up, out, from + i, n - i);
    }

    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);

    @Override
    public void swigluBackward(MemorySegment dout, MemorySegment gate, MemorySegment up,
                               MemorySegment dgate, MemorySegment dup, long from, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            long at = from + i;
            FloatVector g = load(gate, at), u = load(up, at), d = load(dout, at);
            FloatVector sig = ONE.div(ExpVector.exp(g.neg()).add(1f));
            FloatVector silu = g.mul(sig);
            FloatVector dsilu = sig.mul(g.mul(ONE.sub(sig)).add(1f));
            store(d.mul(u).mul(dsilu), dgate, at);
            store(d.mul(silu), dup, at);
        }
        TAIL.swigluBackward(dout, gate, up, dgate, dup, from + i, n - i);
    }

    @Override
    public void adamw(MemorySegment p, MemorySegment g, MemorySegment m, MemorySegment v, long from, int n, AdamW.Constants c) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            long at = from + i;
            FloatVector grad = load(g, at).mul(c.gradScale());
            FloatVector param = load(p, at).mul(c.decay());
            FloatVector m0 = load(m, at);
            FloatVector mi = m0.add(grad.sub(m0).mul(c.oneMinusBeta1()));
            FloatVector vi = load(v, at).mul(c.beta2()).add(grad.mul(c.oneMinusBeta2()).mul(grad));
            FloatVector denom = vi.lanewise(VectorOperators.SQRT).div(c.sqrtBias2()).add(c.eps());
            store(mi, m, at);
            store(vi, v, at);
            store(param.sub(mi.mul(c.stepSize()).div(denom)), p, at);
        }
        TAIL.adamw(p, g, m, v, from + i, n - i, c);
    }

    /*
     * Decode attention's per-head kernels. A head of 8 vectors (64 floats at 256 bits) or 4 (64 at 512 bits) keeps
     * the query, or the output, in registers across the keys; every other depth runs dot / axpy per key. The
     * register forms do exactly what dot and axpy do for that depth: dot's four accumulators, each starting from
     * zero and taking its vectors in ascending order (two rounds for 8 vectors, one for 4), their sum
     * (s0 + s1) + (s2 + s3) in butterfly order, plus the empty tail's +0 (which turns a −0 sum into +0, as dot
     * does); axpy's one fused multiply-add per element and key.
     */

    @Override
    public void headScores(MemorySegment q, long qi, MemorySegment k, long ki, long stride, int n, int depth, float scale,
                           MemorySegment s, long si) {
        if (depth == 8 * L) scores8(q, qi, k, ki, stride, n, scale, s, si);
        else if (depth == 4 * L) scores4(q, qi, k, ki, stride, n, scale, s, si);
        else for (int j = 0; j < n; j++) ScalarFloatKernels.set(s, si + j, scale * dot(q, qi, k, ki + j * stride, depth));
    }

    private static void scores8(MemorySegment q, long qi, MemorySegment k, long ki, long stride, int n, float scale,
                                MemorySegment s, long si) {
        FloatVector q0 = load(q, qi), q1 = load(q, qi + L), q2 = load(q, qi + 2 * L), q3 = load(q, qi + 3 * L);
        FloatVector q4 = load(q, qi + 4 * L), q5 = load(q, qi + 5 * L), q6 = load(q, qi + 6 * L), q7 = load(q, qi + 7 * L);
        FloatVector zero = FloatVector.zero(F);
        for (int j = 0; j < n; j++) {
            long at = ki + j * stride;
            FloatVector s0 = q0.fma(load(k, at), zero), s1 = q1.fma(load(k, at + L), zero);
            FloatVector s2 = q2.fma(load(k, at + 2 * L), zero), s3 = q3.fma(load(k, at + 3 * L), zero);
            s0 = q4.fma(load(k, at + 4 * L), s0);
            s1 = q5.fma(load(k, at + 5 * L), s1);
            s2 = q6.fma(load(k, at + 6 * L), s2);
            s3 = q7.fma(load(k, at + 7 * L), s3);
            ScalarFloatKernels.set(s, si + j, scale * (VectorSums.sum(s0.add(s1).add(s2.add(s3))) + 0f));
        }
    }

    private static void scores4(MemorySegment q, long qi, MemorySegment k, long ki, long stride, int n, float scale,
                                MemorySegment s, long si) {
        FloatVector q0 = load(q, qi), q1 = load(q, qi + L), q2 = load(q, qi + 2 * L), q3 = load(q, qi + 3 * L);
        FloatVector zero = FloatVector.zero(F);
        for (int j = 0; j < n; j++) {
            long at = ki + j * stride;
            FloatVector s0 = q0.fma(load(k, at), zero), s1 = q1.fma(load(k, at + L), zero);
            FloatVector s2 = q2.fma(load(k, at + 2 * L), zero), s3 = q3.fma(load(k, at + 3 * L), zero);
            ScalarFloatKernels.set(s, si + j, scale * (VectorSums.sum(s0.add(s1).add(s2.add(s3))) + 0f));
        }
    }

    @Override
    public void headWeights(MemorySegment p, long pi, int n, MemorySegment v, long vi, long stride, int depth,
                            MemorySegment out, long oi) {
        if (depth == 8 * L) weights8(p, pi, n, v, vi, stride, out, oi);
        else if (depth == 4 * L) weights4(p, pi, n, v, vi, stride, out, oi);
        else for (int j = 0; j < n; j++) axpy(ScalarFloatKernels.get(p, pi + j), v, vi + j * stride, out, oi, depth);
    }

    private static void weights8(MemorySegment p, long pi, int n, MemorySegment v, long vi, long stride, MemorySegment out, long oi) {
        FloatVector o0 = load(out, oi), o1 = load(out, oi + L), o2 = load(out, oi + 2 * L), o3 = load(out, oi + 3 * L);
        FloatVector o4 = load(out, oi + 4 * L), o5 = load(out, oi + 5 * L), o6 = load(out, oi + 6 * L), o7 = load(out, oi + 7 * L);
        for (int j = 0; j < n; j++) {
            long at = vi + j * stride;
            FloatVector w = FloatVector.broadcast(F, ScalarFloatKernels.get(p, pi + j));
            o0 = load(v, at).fma(w, o0);
            o1 = load(v, at + L).fma(w, o1);
            o2 = load(v, at + 2 * L).fma(w, o2);
            o3 = load(v, at + 3 * L).fma(w, o3);
            o4 = load(v, at + 4 * L).fma(w, o4);
            o5 = load(v, at + 5 * L).fma(w, o5);
            o6 = load(v, at + 6 * L).fma(w, o6);
            o7 = load(v, at + 7 * L).fma(w, o7);
        }
        store(o0, out, oi);
        store(o1, out, oi + L);
        store(o2, out, oi + 2 * L);
        store(o3, out, oi + 3 * L);
        store(o4, out, oi + 4 * L);
        store(o5, out, oi + 5 * L);
        store(o6, out, oi + 6 * L);
        store(o7, out, oi + 7 * L);
    }

    private static void weights4(MemorySegment p, long pi, int n, MemorySegment v, long vi, long stride, MemorySegment out, long oi) {
        FloatVector o0 = load(out, oi), o1 = load(out, oi + L), o2 = load(out, oi + 2 * L), o3 = load(out, oi + 3 * L);
        for (int j = 0; j < n; j++) {
            long at = vi + j * stride;
            FloatVector w = FloatVector.broadcast(F, ScalarFloatKernels.get(p, pi + j));
            o0 = load(v, at).fma(w, o0);
            o1 = load(v, at + L).fma(w, o1);
            o2 = load(v, at + 2 * L).fma(w, o2);
            o3 = load(v, at + 3 * L).fma(w, o3);
        }
        store(o0, out, oi);
        store(o1, out, oi + L);
        store(o2, out, oi + 2 * L);
        store(o3, out, oi + 3 * L);
    }

    /*
     * The attention tiles: four query rows by two vectors of lanes, eight accumulators. A row index past
     * `rows` reads the last real row again (cheaper than a branch per step) and its result is not stored.
     * One small method per tile: in one large method C2 runs out of inlining budget and leaves the vector
     * operations in the API's Java fallback (measured: most of a 512-token prefill's attention time).
     */

    @Override
    public void scoreBlock(MemorySegment q, long qi, long qStride, int rows, int depth,
                           MemorySegment kT, long ki, long kStride, int n, MemorySegment s, long si, long sStride) {
        long q1 = qi + Math.min(1, rows - 1) * qStride, q2 = qi + Math.min(2, rows - 1) * qStride;
        long q3 = qi + Math.min(3, rows - 1) * qStride;
        int j = 0;
        for (; j + 2 * L <= n; j += 2 * L) scoreTile2(q, qi, q1, q2, q3, rows, depth, kT, ki + j, kStride, s, si + j, sStride);
        for (; j + L <= n; j += L) scoreTile1(q, qi, q1, q2, q3, rows, depth, kT, ki + j, kStride, s, si + j, sStride, null);
        // the last keys under a mask: a scalar tail would redo the whole depth loop per key
        if (j < n) scoreTile1(q, qi, q1, q2, q3, rows, depth, kT, ki + j, kStride, s, si + j, sStride, F.indexInRange(j, n));
    }

    private static void scoreTile2(MemorySegment q, long q0, long q1, long q2, long q3, int rows, int depth,
                                   MemorySegment kT, long ki, long kStride, MemorySegment s, long si, long sStride) {
        FloatVector a0 = FloatVector.zero(F), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
        for (int d = 0; d < depth; d++) {
            long at = ki + d * kStride;
            FloatVector k0 = load(kT, at), k1 = load(kT, at + L);
            FloatVector x = FloatVector.broadcast(F, ScalarFloatKernels.get(q, q0 + d));
            a0 = k0.fma(x, a0);
            b0 = k1.fma(x, b0);
            x = FloatVector.broadcast(F, ScalarFloatKernels.get(q, q1 + d));
            a1 = k0.fma(x, a1);
            b1 = k1.fma(x, b1);
            x = FloatVector.broadcast(F, ScalarFloatKernels.get(q, q2 + d));
            a2 = k0.fma(x, a2);
            b2 = k1.fma(x, b2);
            x = FloatVector.broadcast(F, ScalarFloatKernels.get(q, q3 + d));
            a3 = k0.fma(x, a3);
            b3 = k1.fma(x, b3);
        }
        storeRows(rows, s, si, sStride, a0, a1, a2, a3, null);
        storeRows(rows, s, si + L, sStride, b0, b1, b2, b3, null);
    }

    /** One vector of keys; under {@code mask} (null: all lanes) for the last, partial one. */
    private static void scoreTile1(MemorySegment q, long q0, long q1, long q2, long q3, int rows, int depth,
                                   MemorySegment kT, long ki, long kStride, MemorySegment s, long si, long sStride,
                                   VectorMask<Float> mask) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < depth; d++) {
            long at = ki + d * kStride;
            FloatVector k0 = mask == null ? load(kT, at) : FloatVector.fromMemorySegment(F, kT, at * Float.BYTES, ORDER, mask);
            a0 = k0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(q, q0 + d)), a0);
            a1 = k0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(q, q1 + d)), a1);
            a2 = k0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(q, q2 + d)), a2);
            a3 = k0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(q, q3 + d)), a3);
        }
        storeRows(rows, s, si, sStride, a0, a1, a2, a3, mask);
    }

    @Override
    public void weightBlock(MemorySegment p, long pi, long pStride, int rows, int n,
                            MemorySegment v, long vi, long vStride, int width, MemorySegment out, long oi, long oStride) {
        long p1 = pi + Math.min(1, rows - 1) * pStride, p2 = pi + Math.min(2, rows - 1) * pStride;
        long p3 = pi + Math.min(3, rows - 1) * pStride;
        int d = 0;
        for (; d + 2 * L <= width; d += 2 * L) weightTile2(p, pi, p1, p2, p3, rows, n, v, vi + d, vStride, out, oi + d, oStride);
        for (; d + L <= width; d += L) weightTile1(p, pi, p1, p2, p3, rows, n, v, vi + d, vStride, out, oi + d, oStride);
        TAIL.weightBlock(p, pi, pStride, rows, n, v, vi + d, vStride, width - d, out, oi + d, oStride);
    }

    private static void weightTile2(MemorySegment p, long p0, long p1, long p2, long p3, int rows, int n,
                                    MemorySegment v, long vi, long vStride, MemorySegment out, long oi, long oStride) {
        FloatVector a0 = FloatVector.zero(F), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
        for (int j = 0; j < n; j++) {
            long at = vi + j * vStride;
            FloatVector v0 = load(v, at), v1 = load(v, at + L);
            FloatVector x = FloatVector.broadcast(F, ScalarFloatKernels.get(p, p0 + j));
            a0 = v0.fma(x, a0);
            b0 = v1.fma(x, b0);
            x = FloatVector.broadcast(F, ScalarFloatKernels.get(p, p1 + j));
            a1 = v0.fma(x, a1);
            b1 = v1.fma(x, b1);
            x = FloatVector.broadcast(F, ScalarFloatKernels.get(p, p2 + j));
            a2 = v0.fma(x, a2);
            b2 = v1.fma(x, b2);
            x = FloatVector.broadcast(F, ScalarFloatKernels.get(p, p3 + j));
            a3 = v0.fma(x, a3);
            b3 = v1.fma(x, b3);
        }
        storeRows(rows, out, oi, oStride, a0, a1, a2, a3, null);
        storeRows(rows, out, oi + L, oStride, b0, b1, b2, b3, null);
    }

    private static void weightTile1(MemorySegment p, long p0, long p1, long p2, long p3, int rows, int n,
                                    MemorySegment v, long vi, long vStride, MemorySegment out, long oi, long oStride) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < n; j++) {
            FloatVector v0 = load(v, vi + j * vStride);
            a0 = v0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(p, p0 + j)), a0);
            a1 = v0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(p, p1 + j)), a1);
            a2 = v0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(p, p2 + j)), a2);
            a3 = v0.fma(FloatVector.broadcast(F, ScalarFloatKernels.get(p, p3 + j)), a3);
        }
        storeRows(rows, out, oi, oStride, a0, a1, a2, a3, null);
    }

    /** Rows r < rows of a tile one vector wide, row r at at + r·stride; under {@code mask} unless null. */
    private static void storeRows(int rows, MemorySegment s, long at, long stride,
                                  FloatVector r0, FloatVector r1, FloatVector r2, FloatVector r3, VectorMask<Float> mask) {
        storeRow(r0, s, at, mask);
        if (rows > 1) storeRow(r1, s, at + stride, mask);
        if (rows > 2) storeRow(r2, s, at + 2 * stride, mask);
        if (rows > 3) storeRow(r3, s, at + 3 * stride, mask);
    }

    private static void storeRow(FloatVector v, MemorySegment s, long at, VectorMask<Float> mask) {
        if (mask == null) store(v, s, at);
        else v.intoMemorySegment(s, at * Float.BYTES, ORDER, mask);
    }
}
