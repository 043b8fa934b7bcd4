package tern.eval;

/**
 * A uniform k-bit grid for one group of weights, as GPTQ's reference quantizer builds it (min–max):
 * asymmetric by default, levels 0 … 2ᵏ−1 with a zero point, the range widened to contain 0 so that 0 stays
 * representable; symmetric: levels centred on the middle code. A group whose values are all 0 gets the
 * range [−1, 1] (any scale reproduces it exactly).
 *
 * @param scale step between levels
 * @param zero  the code that stands for 0.0
 * @param maxq  the largest code, 2ᵏ − 1
 */
public record QuantizeGrid(double scale, double zero, int maxq) {

    /** The grid for {@code w[from, to)} at {@code bits} bits. */
    public static QuantizeGrid fit(double[] w, int from, int to, int bits, boolean symmetric) {
        if (bits < 2 || bits > 16) throw new IllegalArgumentException("quantization bits must be in 2..16, got " + bits);
        if (from >= to) throw new IllegalArgumentException("empty group [" + from + ", " + to + ")");
        int maxq = (1 << bits) - 1;
        double lo = 0, hi = 0;                                  // 0 is always inside the range
        for (int i = from; i < to; i++) {
            lo = Math.min(lo, w[i]);
            hi = Math.max(hi, w[i]);
        }
        if (symmetric) {
            hi = Math.max(-lo, hi);
            lo = -hi;
        }
        if (lo == 0 && hi == 0) {
            lo = -1;
            hi = 1;
        }
        double scale = (hi - lo) / maxq;
        double zero = symmetric ? (maxq + 1) / 2.0 : Math.rint(-lo / scale);
        return new QuantizeGrid(scale, zero, maxq);
    }

    /** The integer code of x: clamp(round(x / scale) + zero, 0, maxq). */
    public int code(double x) {
        return (int) Math.max(0, Math.min(maxq, Math.rint(x / scale) + zero));
    }

    /** The value a code stands for: scale · (code − zero). */
    public double value(int code) { return scale * (code - zero); }

    /** Round to nearest on this grid. */
    public double quantize(double x) { return value(code(x)); }
}
