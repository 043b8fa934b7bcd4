package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The plain-Java twin of {@code VectorFloatKernels}: one element at a time, in index order. It is the path
 * taken without {@code jdk.incubator.vector} (or with -Dtern.simd=scalar), and the one the vector kernels
 * are tested against. Exponentials go through {@link Exp#exp}, whose bits do not depend on the JIT and
 * equal its vector twin's.
 */
public final class ScalarFloatKernels implements FloatKernels {
    public static final ScalarFloatKernels INSTANCE = new ScalarFloatKernels();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private ScalarFloatKernels() {}

    static float get(MemorySegment s, long i) { return s.getAtIndex(F, i); }

    static void set(MemorySegment s, long i, float v) { s.setAtIndex(F, i, v); }

    @Override
    public float dot(MemorySegment a, long ai, MemorySegment b, long bi, int n) {
        float sum = 0;
        for (int i = 0; i < n; i++) sum = Math.fma(get(a, ai + i), get(b, bi + i), sum);
        return sum;
    }

    @Override
    public double sumOfSquares(MemorySegment x, long xi, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double v = get(x, xi + i);
            sum += v * v;
        }
        return sum;
    }

    @Override
    public double sumOfAbs(MemorySegment x, long xi, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.abs(get(x, xi + i));
        return sum;
    }

    @Override
    public float maxAbs(MemorySegment x, long xi, int n) {
        float m = 0;
        for (int i = 0; i < n; i++) m = Math.max(m, Math.abs(get(x, xi + i)));
        return m;
    }

    @Override
    public float max(MemorySegment x, long xi, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, get(x, xi + i));
        return m;
    }

    @Override
    public boolean allFinite(MemorySegment x, long xi, int n) {
        for (int i = 0; i < n; i++) if (!Float.isFinite(get(x, xi + i))) return false;
        return true;
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        for (int i = 0; i < n; i++) set(y, yi + i, Math.fma(alpha, get(x, xi + i), get(y, yi + i)));
    }

    @Override
    public void scale(float alpha, MemorySegment x, long xi, MemorySegment out, long oi, int n) {
        for (int i = 0; i < n; i++) set(out, oi + i, alpha * get(x, xi + i));
    }

    @Override
    public void add(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment out, long oi, int n) {
        for (int i = 0; i < n; i++) set(out, oi + i, get(a, ai + i) + get(b, bi + i));
    }

    @Override
    public void scaledProduct(float alpha, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment out, long oi, int n) {
        for (int i = 0; i < n; i++) set(out, oi + i, alpha * get(a, ai + i) * get(b, bi + i));
    }

    @Override
    public void addScaledProduct(float alpha, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment y, long yi, int n) {
        for (int i = 0; i < n; i++) set(y, yi + i, Math.fma(alpha * get(a, ai + i), get(b, bi + i), get(y, yi + i)));
    }

    @Override
    public void softmaxGrad(MemorySegment p, long pi, MemorySegment d, long di, float shift, MemorySegment out, long oi, int n) {
        for (int i = 0; i < n; i++) set(out, oi + i, get(p, pi + i) * (get(d, di + i) - shift));
    }

    @Override
    public void fill(float v, MemorySegment out, long oi, int n) {
        for (int i = 0; i < n; i++) set(out, oi + i, v);
    }

    @Override
    public double sumExp(MemorySegment x, long xi, int n, float shift) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Exp.exp(get(x, xi + i) - shift);
        return sum;
    }

    @Override
    public void expShiftScale(MemorySegment x, long xi, int n, float shift, float alpha, MemorySegment out, long oi) {
        for (int i = 0; i < n; i++) set(out, oi + i, Exp.exp(get(x, xi + i) - shift) * alpha);
    }

    @Override
    public void expShiftEach(MemorySegment x, long xi, MemorySegment shift, long si, int n, MemorySegment out, long oi) {
        for (int i = 0; i < n; i++) set(out, oi + i, Exp.exp(get(x, xi + i) - get(shift, si + i)));
    }

    @Override
    public void softmaxGradEach(float alpha, MemorySegment p, long pi, MemorySegment d, long di, MemorySegment shift, long si,
                                MemorySegment out, long oi, int n) {
        for (int i = 0; i < n; i++) set(out, oi + i, alpha * (get(p, pi + i) * (get(d, di + i) - get(shift, si + i))));
    }

    @Override
    public void rotate(MemorySegment x, long xi, float[] cos, float[] sin, int tableOffset, int half, MemorySegment out, long oi) {
        for (int i = 0; i < half; i++) {
            float a = get(x, xi + i), b = get(x, xi + half + i);
            float c = cos[tableOffset + i], s = sin[tableOffset + i];
            set(out, oi + i, a * c - b * s);
            set(out, oi + half + i, b * c + a * s);
        }
    }

    @Override
    public void swiglu(MemorySegment gate, MemorySegment up, MemorySegment out, long from, int n) {
        for (long i = from; i < from + n; i++) {
            float g = get(gate, i);
            float sig = 1f / (1f + Exp.exp(-g));
            set(out, i, g * sig * get(up, i));
        }
    }

    @Override
    public void swigluBackward(MemorySegment dout, MemorySegment gate, MemorySegment up,
                               MemorySegment dgate, MemorySegment dup, long from, int n) {
        for (long i = from; i < from + n; i++) {
            float g = get(gate, i), u = get(up, i), d = get(dout, i);
            float sig = 1f / (1f + Exp.exp(-g));
            float silu = g * sig;
            // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
            float dsilu = sig * (1f + g * (1f - sig));
            set(dgate, i, d * u * dsilu);
            set(dup, i, d * silu);
        }
    }

    @Override
    public void adamw(MemorySegment p, MemorySegment g, MemorySegment m, MemorySegment v, long from, int n, AdamW.Constants c) {
        for (long i = from; i < from + n; i++) {
            float grad = get(g, i) * c.gradScale();
            float param = get(p, i) * c.decay();                              // p ← p·(1 − lr·wd)
            float mi = get(m, i) + c.oneMinusBeta1() * (grad - get(m, i));     // lerp: β1·m + (1−β1)·g
            float vi = c.beta2() * get(v, i) + c.oneMinusBeta2() * grad * grad;
            float denom = (float) Math.sqrt(vi) / c.sqrtBias2() + c.eps();    // sqrt(v̂) + eps
            set(m, i, mi);
            set(v, i, vi);
            set(p, i, param - c.stepSize() * mi / denom);                    // lr/(1−β1^t) · m / denom
        }
    }

    @Override
    public void headScores(MemorySegment q, long qi, MemorySegment k, long ki, long stride, int n, int depth, float scale,
                           MemorySegment s, long si) {
        for (int j = 0; j < n; j++) set(s, si + j, scale * dot(q, qi, k, ki + j * stride, depth));
    }

    @Override
    public void headWeights(MemorySegment p, long pi, int n, MemorySegment v, long vi, long stride, int depth,
                            MemorySegment out, long oi) {
        for (int j = 0; j < n; j++) axpy(get(p, pi + j), v, vi + j * stride, out, oi, depth);
    }

    @Override
    public void scoreBlock(MemorySegment q, long qi, long qStride, int rows, int depth,
                           MemorySegment kT, long ki, long kStride, int n, MemorySegment s, long si, long sStride) {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < n; j++) {
                float sum = 0;
                for (int d = 0; d < depth; d++) sum = Math.fma(get(q, qi + r * qStride + d), get(kT, ki + d * kStride + j), sum);
                set(s, si + r * sStride + j, sum);
            }
    }

    @Override
    public void weightBlock(MemorySegment p, long pi, long pStride, int rows, int n,
                            MemorySegment v, long vi, long vStride, int width, MemorySegment out, long oi, long oStride) {
        for (int r = 0; r < rows; r++)
            for (int d = 0; d < width; d++) {
                float sum = 0;
                for (int j = 0; j < n; j++) sum = Math.fma(get(p, pi + r * pStride + j), get(v, vi + j * vStride + d), sum);
                set(out, oi + r * oStride + d, sum);
            }
    }
}
