package tern.runtime;

/**
 * bfloat16 on the host: the upper 16 bits of an f32 (8 exponent bits, 7 stored mantissa bits), as the GPU
 * stores activations with {@code --compute bf16}. {@link #round} rounds to nearest even as dtype.h's
 * bf16_bits and torch do, so a test can predict a kernel's stored value bit for bit.
 */
public final class Bf16 {
    /** The relative error of one rounding to bf16: at most half an ulp of an 8-bit significand. */
    public static final double UNIT_ROUNDOFF = 0x1p-8;

    private Bf16() {}

    /** The bits of the bf16 nearest to v (ties to even); NaN stays a quiet NaN, overflow becomes infinity. */
    public static short bits(float v) {
        int u = Float.floatToRawIntBits(v);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 0x40);
        u += 0x7fff + ((u >>> 16) & 1);
        return (short) (u >>> 16);
    }

    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** v rounded to the nearest bf16, as an f32. */
    public static float round(float v) {
        return toFloat(bits(v));
    }
}
