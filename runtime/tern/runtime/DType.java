package tern.runtime;

/** Element types a {@link Tensor} can hold. Packed types report bits per element, not bytes. */
public enum DType {
    F32(32), F16(16), BF16(16), I32(32), I8(8),
    /** Ternary weights packed four to a byte: 2 bits each, 0b00 = 0, 0b01 = +1, 0b10 = -1. */
    TERNARY2(2),
    /**
     * Ternary weights in the t9 inference layout of packed model files (tern.simd.PackedTernary): nine
     * trits per 16-bit code; the tensor's elements are the codes.
     */
    T9(16);

    public final int bits;

    DType(int bits) { this.bits = bits; }

    /** Bytes needed to hold {@code count} elements of this type (packed types round up to whole bytes). */
    public long bytesFor(long count) {
        return (count * bits + 7) / 8;
    }
}
