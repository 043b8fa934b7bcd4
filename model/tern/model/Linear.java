package tern.model;

import tern.runtime.Backend;
import tern.runtime.Granularity;
import tern.runtime.Parameter;
import tern.runtime.ShardAxis;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;
import tern.runtime.Var;

/**
 * A bias-free linear layer y = x·Ŵᵀ over a float latent weight W [out, in]. What Ŵ is comes from a
 * {@link LinearPolicy} and a phase-in λ (data, not subclasses): the weight is {@link #prepare prepared}
 * once per forward pass — quantized, mixed with W, or packed for the ternary kernel — and the prepared form
 * is then applied to any number of inputs. Every policy's backward is straight-through: ∂L/∂W := ∂L/∂Ŵ.
 */
public final class Linear {
    /** Absmean ε, as in BitNet b1.58 (SPEC.md): γ = ε + mean|W|. */
    public static final float TERNARY_EPS = 1e-5f;

    private final Parameter weight;
    private final ShardAxis shardAxis;

    /**
     * @param shardAxis how model-parallel shards cut this matrix: ROWS for column-parallel layers (q, k, v,
     *                  gate, up), COLS for row-parallel ones (o, down), as Megatron/GPT-NeoX split them
     */
    public Linear(Parameter weight, ShardAxis shardAxis) {
        if (weight.value.rank() != 2)
            throw new IllegalArgumentException(weight.name + " must be a matrix [out, in], got " + weight.value.describe());
        this.weight = weight;
        this.shardAxis = shardAxis;
    }

    public Parameter weight() { return weight; }

    public ShardAxis shardAxis() { return shardAxis; }

    public int outFeatures() { return weight.value.dim(0); }

    public int inFeatures() { return weight.value.dim(1); }

    /** The weight as one forward pass uses it. Close it to free what it allocated. */
    public sealed interface Prepared extends AutoCloseable {
        @Override void close();
    }

    /** Ŵ as a dense float matrix; {@code owned} when it is a copy (not W itself). */
    public record Dense(Tensor used, boolean owned) implements Prepared {
        @Override public void close() { if (owned) used.close(); }
    }

    /** Ŵ = γ·T packed for the backend's add/subtract kernel (ternary policy at λ = 1). */
    public record Packed(TernaryWeights weights) implements Prepared {
        @Override public void close() { weights.close(); }
    }

    /**
     * Ŵ = W + λ·(Q(W) − W) for the policy's quantizer Q. λ = 0 returns W itself (exactly float), λ = 1 returns
     * Q(W) itself (exactly the policy; packed for the ternary kernel), in between the mixture
     * (1 − λ)·W + λ·Q(W).
     */
    public Prepared prepare(Backend backend, LinearPolicy policy, float phaseIn) {
        Tensor w = weight.value;
        if (policy instanceof LinearPolicy.Float || phaseIn == 0f) return new Dense(w, false);
        if (policy instanceof LinearPolicy.Ternary(int shards) && phaseIn == 1f)
            return new Packed(backend.packTernary(w, shards, shardAxis, TERNARY_EPS));
        Tensor q = backend.zeros(w.dtype(), w.shape());
        switch (policy) {
            case LinearPolicy.Ternary(int shards) -> backend.quantizeTernary(w, shards, shardAxis, TERNARY_EPS, q);
            case LinearPolicy.Binary(Granularity g) -> backend.quantizeBinary(w, g, q);
            case LinearPolicy.Int(int bits, Granularity g) -> backend.quantizeSymmetric(w, bits, g, q);
            case LinearPolicy.Float f -> throw new AssertionError("handled above");
        }
        if (phaseIn != 1f) {
            backend.scale(q, phaseIn);              // λ·Q(W)
            backend.axpy(1f - phaseIn, w, q);       // + (1 − λ)·W
        }
        return new Dense(q, true);
    }

    /** y = x·Ŵᵀ on the tape with the straight-through gradient into W. The tape does not own {@code p}. */
    public Var forward(Tape tape, Var x, Prepared p) {
        if (x.cols() != inFeatures())
            throw new IllegalArgumentException(weight.name + " expects " + inFeatures() + " input features, got "
                    + x.value.describe());
        Var w = tape.param(weight);
        return switch (p) {
            case Dense(Tensor used, boolean owned) -> tape.linear(x, w, used);
            case Packed(TernaryWeights packed) -> tape.linearTernary(x, w, packed);
        };
    }

    @Override public String toString() { return "Linear " + weight.name + " " + weight.value.describe() + " shards along " + shardAxis; }
}
