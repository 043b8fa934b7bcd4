package tern.simd;

/**
 * exp(x) for float, computed from IEEE basic operations only (multiply, fused multiply-add, rint), so it
 * gives the same bits interpreted or JIT-compiled, scalar or vectorised ({@link ExpVector} is the same
 * algorithm lane by lane). {@code VectorOperators.EXP} does not: its last bits change once C2 replaces the
 * interpreter's fallback with an intrinsic, which breaks bit-exact resumption of training.
 *
 * <p>Method (the classic Cephes single-precision scheme, written from its description): n = rint(x·log2 e),
 * r = x − n·ln 2 in two parts (the high part has few mantissa bits, so n·C1 is exact), exp(r) from a
 * degree-5 polynomial on |r| ≤ ln2/2, then scale by 2ⁿ through the exponent bits, split in two factors so
 * n = 128 cannot overflow the exponent field. Error ≤ 2 ulp over the normal range (tested). Inputs below
 * {@link #MIN_ARG} give 0, above {@link #MAX_ARG} give +∞, NaN gives NaN.
 */
public final class Exp {
    static final float MAX_ARG = 88.72283f;
    static final float MIN_ARG = -87.33654f;
    static final float LOG2E = 1.44269504088896341f;
    /** 1.5·2²³: adding and subtracting it rounds a float of magnitude below 2²² to an integer, half to even. */
    static final float ROUNDER = 12582912f;
    static final float C1 = 0.693359375f;          // ln 2 high part: 9 significant bits
    static final float C2 = -2.12194440e-4f;        // ln 2 − C1
    static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    private Exp() {}

    public static float exp(float x) {
        if (x > MAX_ARG) return Float.POSITIVE_INFINITY;
        if (x < MIN_ARG) return 0f;
        if (x != x) return x;
        float n = (x * LOG2E + ROUNDER) - ROUNDER;      // rint, the same way the vector twin does it
        float r = Math.fma(n, -C1, x);
        r = Math.fma(n, -C2, r);
        float p = P0;
        p = Math.fma(p, r, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        float y = Math.fma(p, r * r, r) + 1f;
        int k = (int) n;
        int k1 = k >> 1, k2 = k - k1;
        return y * Float.intBitsToFloat((k1 + 127) << 23) * Float.intBitsToFloat((k2 + 127) << 23);
    }
}
