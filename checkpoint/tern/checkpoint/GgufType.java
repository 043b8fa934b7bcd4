package tern.checkpoint;

/**
 * The GGUF tensor types Tern reads and writes (ggml's type ids), with their block geometry: a row of a
 * tensor is stored as whole blocks of {@link #blockWeights} weights taking {@link #blockBytes} bytes each.
 * TQ1_0 and TQ2_0 are llama.cpp's ternary types: 256 weights in {−1, 0, +1} and one fp16 scale per block,
 * at 1.6875 and 2.0625 bits per weight.
 */
public enum GgufType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q8_0(8, 32, 34),
    BF16(30, 1, 2),
    TQ1_0(34, 256, 54),
    TQ2_0(35, 256, 66);

    /** ggml's type id, as stored in a tensor info. */
    public final int id;
    public final int blockWeights;
    public final int blockBytes;

    GgufType(int id, int blockWeights, int blockBytes) {
        this.id = id;
        this.blockWeights = blockWeights;
        this.blockBytes = blockBytes;
    }

    /** The type with ggml id {@code id}, or null when Tern does not read it. */
    public static GgufType byId(long id) {
        for (GgufType t : values()) if (t.id == id) return t;
        return null;
    }

    /** Lower-case name as llama.cpp's tools print it (tq2_0, f16). */
    public String label() { return name().toLowerCase(java.util.Locale.ROOT); }

    /** Whether a row of {@code width} weights is whole blocks of this type. */
    public boolean fitsRow(long width) { return width > 0 && width % blockWeights == 0; }

    /** Bytes of {@code weights} weights (a multiple of the block size). */
    public long bytes(long weights) { return weights / blockWeights * blockBytes; }
}
