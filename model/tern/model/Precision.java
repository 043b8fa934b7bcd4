package tern.model;

/**
 * The precision settings of the transformer blocks (the embedding, LM head and norms always stay float,
 * as in Spectra).
 *
 * @param weights        how block linears quantize their weights
 * @param phaseIn        λ ∈ [0, 1] for continual QAT: W_used = W + λ·(Q(W) − W); 0 is float, 1 the policy
 * @param activationBits k-bit per-token fake quantization of every block linear's input; 0 = off
 * @param kvBits         k-bit per-token fake quantization of keys and values (what a KV cache holds); 0 = off
 */
public record Precision(LinearPolicy weights, float phaseIn, int activationBits, int kvBits) {
    public static final Precision FLOAT = new Precision(LinearPolicy.FLOAT, 1f, 0, 0);

    public Precision {
        if (weights == null) throw new IllegalArgumentException("precision.weights is null");
        if (!(phaseIn >= 0f && phaseIn <= 1f))
            throw new IllegalArgumentException("precision.phaseIn must be in [0, 1], got " + phaseIn);
        checkBits("precision.activationBits", activationBits);
        checkBits("precision.kvBits", kvBits);
    }

    /** Weights quantized by {@code policy}, fully phased in, activations and KV in float. */
    public static Precision of(LinearPolicy policy) { return new Precision(policy, 1f, 0, 0); }

    public Precision withWeights(LinearPolicy policy) { return new Precision(policy, phaseIn, activationBits, kvBits); }

    public Precision withPhaseIn(float lambda) { return new Precision(weights, lambda, activationBits, kvBits); }

    public Precision withActivationBits(int bits) { return new Precision(weights, phaseIn, bits, kvBits); }

    public Precision withKvBits(int bits) { return new Precision(weights, phaseIn, activationBits, bits); }

    private static void checkBits(String field, int bits) {
        if (bits != 0 && (bits < 2 || bits > 16))
            throw new IllegalArgumentException(field + " must be 0 (off) or in 2..16, got " + bits);
    }
}
