package tern.checkpoint;

/**
 * Conversions between f32 and the two 16-bit float formats of Hugging Face checkpoints. Both round to
 * nearest, ties to even, as PyTorch's {@code tensor.half()} and {@code tensor.bfloat16()} do, so a file we
 * write holds the same bits Python would have written.
 */
public final class HalfFloats {
    private HalfFloats() {}

    /** IEEE binary16 bits of f (round to nearest even; overflow to ±inf; NaN stays NaN). */
    public static short toF16(float f) { return Float.floatToFloat16(f); }

    public static float fromF16(short bits) { return Float.float16ToFloat(bits); }

    /** bfloat16 bits of f: the top 16 bits of the f32, rounded to nearest even; NaN kept quiet. */
    public static short toBF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x0040);   // rounding could turn a NaN into inf
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);                  // carries into the exponent as it should
    }

    public static float fromBF16(short bits) { return Float.intBitsToFloat((bits & 0xFFFF) << 16); }
}
