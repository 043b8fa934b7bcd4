package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * The inner loops every CPU op is built from, over f32 data in off-heap segments. Offsets are element
 * indices (not bytes). Two implementations give the same results up to float rounding order:
 * {@link ScalarFloatKernels} (plain Java, always available) and {@code VectorFloatKernels} (the Vector API,
 * loaded only when {@link Vectorization#ENABLED}). The ops above them ({@link RmsNorm}, {@link Attention},
 * ...) hold the algorithm once, so a test can run each op on both paths by choosing the kernels.
 */
public interface FloatKernels {

    /** The Vector API kernels when enabled, else the scalar ones. */
    // Referencing VectorFloatKernels only in the taken branch keeps it (and jdk.incubator.vector) unloaded
    // on the scalar path: HotSpot resolves classes lazily and the verifier treats interface types as Object.
    static FloatKernels preferred() {
        return Vectorization.ENABLED ? VectorFloatKernels.INSTANCE : ScalarFloatKernels.INSTANCE;
    }

    /** Σ a[i]·b[i], float accumulation (dot products of one head or one row: ≤ a few thousand terms). */
    float dot(MemorySegment a, long ai, MemorySegment b, long bi, int n);

    /** Σ x[i]², each square exact in double and summed in double. */
    double sumOfSquares(MemorySegment x, long xi, int n);

    /** Σ |x[i]| in double. */
    double sumOfAbs(MemorySegment x, long xi, int n);

    /** max |x[i]| (0 for n = 0). */
    float maxAbs(MemorySegment x, long xi, int n);

    /** max x[i] (−∞ for n = 0). */
    float max(MemorySegment x, long xi, int n);

    /** True when no element is NaN or ±∞. */
    boolean allFinite(MemorySegment x, long xi, int n);

    /** y[i] ← y[i] + alpha·x[i]. */
    void axpy(float alpha, MemorySegment x, long xi, MemorySegment y, long yi, int n);

    /** out[i] ← alpha·x[i]; out may be x. */
    void scale(float alpha, MemorySegment x, long xi, MemorySegment out, long oi, int n);

    /** out[i] ← a[i] + b[i]; out may be a or b. */
    void add(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment out, long oi, int n);

    /** out[i] ← alpha·a[i]·b[i] (RMSNorm's x·rstd·weight). */
    void scaledProduct(float alpha, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment out, long oi, int n);

    /** y[i] ← y[i] + alpha·a[i]·b[i] (RMSNorm's weight gradient). */
    void addScaledProduct(float alpha, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment y, long yi, int n);

    /** out[i] ← p[i]·(d[i] − shift) (the softmax backward: dS = P ⊙ (dP − rowsum(P ⊙ dP))); out may be p or d. */
    void softmaxGrad(MemorySegment p, long pi, MemorySegment d, long di, float shift, MemorySegment out, long oi, int n);

    /** out[i] ← v (fill). */
    void fill(float v, MemorySegment out, long oi, int n);

    /** Σ exp(x[i] − shift), exponentials in float, summed in double (softmax denominators). */
    double sumExp(MemorySegment x, long xi, int n, float shift);

    /** out[i] ← exp(x[i] − shift)·alpha; out may be x (softmax probabilities, cross-entropy gradients). */
    void expShiftScale(MemorySegment x, long xi, int n, float shift, float alpha, MemorySegment out, long oi);

    /** out[i] ← exp(x[i] − shift[si + i]), a shift per element (the attention backward's p = exp(s − lse)); out may be x. */
    void expShiftEach(MemorySegment x, long xi, MemorySegment shift, long si, int n, MemorySegment out, long oi);

    /** out[i] ← alpha·(p[i]·(d[i] − shift[si + i])), a shift per element (the attention backward's scale·dS); out may be p or d. */
    void softmaxGradEach(float alpha, MemorySegment p, long pi, MemorySegment d, long di, MemorySegment shift, long si,
                         MemorySegment out, long oi, int n);

    /**
     * Rotary pairs of one head: for i < half, with (a, b) = (x[i], x[i+half]):
     * out[i] ← a·cos[i] − b·sin[i], out[i+half] ← b·cos[i] + a·sin[i]. out may be x.
     */
    void rotate(MemorySegment x, long xi, float[] cos, float[] sin, int tableOffset, int half, MemorySegment out, long oi);

    /** out ← silu(gate)·up. */
    void swiglu(MemorySegment gate, MemorySegment up, MemorySegment out, long from, int n);

    /** dgate ← dout·up·silu'(gate), dup ← dout·silu(gate). */
    void swigluBackward(MemorySegment dout, MemorySegment gate, MemorySegment up,
                        MemorySegment dgate, MemorySegment dup, long from, int n);

    /**
     * s[si + j] ← scale·{@link #dot}(q[qi …], k[ki + j·stride …], depth) for j < n: one head's scores for one query
     * over n cached keys, stride apart (decode attention). Bit for bit the same as calling {@code dot} per key,
     * so an implementation may hold the query in registers across keys but not reorder a key's sum.
     */
    void headScores(MemorySegment q, long qi, MemorySegment k, long ki, long stride, int n, int depth, float scale,
                    MemorySegment s, long si);

    /**
     * out[oi + d] ← out[oi + d] + Σ_j p[pi + j]·v[vi + j·stride + d] for j < n, d < depth: one head's weighted sum of
     * n value rows (decode attention). Bit for bit {@link #axpy}(p[pi + j], v row j, out) for j = 0, 1, …, n − 1 in
     * that order (one fused multiply-add per key and element), so an implementation may hold out in registers
     * across keys but not reorder the keys.
     */
    void headWeights(MemorySegment p, long pi, int n, MemorySegment v, long vi, long stride, int depth,
                     MemorySegment out, long oi);

    /** Queries per call of {@link #scoreBlock} and {@link #weightBlock}: the height of their register tile. */
    int BLOCK_ROWS = 4;

    /**
     * s[si + r·sStride + j] ← Σ_d q[qi + r·qStride + d]·kT[ki + d·kStride + j] for r < rows ≤ {@link #BLOCK_ROWS},
     * d < depth, j < n: a block of queries' attention scores over one head's keys stored transposed (one row per
     * head dimension), each key row loaded once for the whole block. Sums in float over d in ascending order.
     */
    void scoreBlock(MemorySegment q, long qi, long qStride, int rows, int depth,
                    MemorySegment kT, long ki, long kStride, int n, MemorySegment s, long si, long sStride);

    /**
     * out[oi + r·oStride + d] ← Σ_j p[pi + r·pStride + j]·v[vi + j·vStride + d] for r < rows ≤ {@link #BLOCK_ROWS},
     * j < n, d < width: a block of queries' probability rows weighting the value rows, each value row loaded once
     * for the whole block. Sums in float over j in ascending order.
     */
    void weightBlock(MemorySegment p, long pi, long pStride, int rows, int n,
                     MemorySegment v, long vi, long vStride, int width, MemorySegment out, long oi, long oStride);

    /** One AdamW update of elements [from, from+n), constants precomputed by {@link AdamW}. */
    void adamw(MemorySegment p, MemorySegment g, MemorySegment m, MemorySegment v, long from, int n, AdamW.Constants c);
}
