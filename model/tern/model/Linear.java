package tern.model;

import java.util.ArrayList;
import java.util.List;

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
 *
 * <p>A linear may instead hold only packed ternary weights, served from a packed model file
 * ({@link Backend#loadTernary}): it has no latent W, cannot be trained, and every policy prepares it as
 * those weights.
 */
public final class Linear implements AutoCloseable {
    /** Absmean ε, as in BitNet b1.58 (SPEC.md): γ = ε + mean|W|. */
    public static final float TERNARY_EPS = 1e-5f;

    private final Parameter weight;          // null when served
    private final TernaryWeights served;     // a packed file's weights, null when W is trained
    private final String name;
    private final ShardAxis shardAxis;

    /**
     * @param shardAxis how model-parallel shards cut this matrix: ROWS for column-parallel layers (q, k, v,
     *                  gate, up), COLS for row-parallel ones (o, down), as Megatron/GPT-NeoX split them
     */
    public Linear(Parameter weight, ShardAxis shardAxis) {
        if (weight.value.rank() != 2)
            throw new IllegalArgumentException(weight.name + " must be a matrix [out, in], got " + weight.value.describe());
        this.weight = weight;
        this.served = null;
        this.name = weight.name;
        this.shardAxis = shardAxis;
    }

    /** A linear that serves packed ternary weights (owned: closed with this linear). */
    public Linear(String name, TernaryWeights served, ShardAxis shardAxis) {
        if (served.axis() != shardAxis)
            throw new IllegalArgumentException(name + " is sharded along " + served.axis() + ", this linear along " + shardAxis);
        this.weight = null;
        this.served = served;
        this.name = name;
        this.shardAxis = shardAxis;
    }

    /** The float latent weight W; a served linear has none. */
    public Parameter weight() {
        if (weight == null) throw new IllegalStateException(name + " serves packed ternary weights: it has no float latent weight to train or save");
        return weight;
    }

    /** True when this linear serves packed weights (a packed model file's) rather than a trained W. */
    public boolean served() { return served != null; }

    public String name() { return name; }

    public ShardAxis shardAxis() { return shardAxis; }

    public int outFeatures() { return served != null ? served.rows() : weight.value.dim(0); }

    public int inFeatures() { return served != null ? served.cols() : weight.value.dim(1); }

    /** The weight as one forward pass uses it. Close it to free what it allocated. */
    public sealed interface Prepared extends AutoCloseable {
        @Override void close();
    }

    /** Ŵ as a dense float matrix; {@code owned} when it is a copy (not W itself). */
    public record Dense(Tensor used, boolean owned) implements Prepared {
        @Override public void close() { if (owned) used.close(); }
    }

    /**
     * Ŵ = γ·T packed for the backend's add/subtract kernel (ternary policy at λ = 1, or a served linear's
     * weights, which it does not own).
     */
    public record Packed(TernaryWeights weights, boolean owned) implements Prepared {
        @Override public void close() { if (owned) weights.close(); }
    }

    /**
     * Ŵ = W + λ·(Q(W) − W) for the policy's quantizer Q. λ = 0 returns W itself (exactly float), λ = 1 returns
     * Q(W) itself (exactly the policy; packed for the ternary kernel), in between the mixture
     * (1 − λ)·W + λ·Q(W).
     */
    public Prepared prepare(Backend backend, LinearPolicy policy, float phaseIn) {
        return prepareF32(backend, policy, phaseIn);
    }

    /**
     * As {@link #prepare(Backend, LinearPolicy, float)}, for products that read {@code operand}-typed weights:
     * with bf16 (a training step on a GPU computing in bf16) Ŵ is a dense bf16 matrix made once per step, so
     * no product converts it; a ternary Ŵ at λ = 1 is then fake-quantized straight into it
     * ({@link Backend#quantizeTernaryInto}: scales on the device, no packing, no host synchronization).
     */
    public Prepared prepare(Backend backend, LinearPolicy policy, float phaseIn, tern.runtime.DType operand) {
        if (served == null && operand != tern.runtime.DType.F32) return prepareAll(backend, List.of(this), policy, phaseIn, operand)[0];
        return prepareF32(backend, policy, phaseIn);
    }

    /**
     * {@link #prepare(Backend, LinearPolicy, float, tern.runtime.DType)} of many linears at once: with a 16-bit
     * operand the float weights are rounded in one {@link Backend#convertAll} and the ternary ones (λ = 1)
     * fake-quantized in one {@link Backend#quantizeTernaryAllInto} (CUDA: a handful of launches for a whole
     * model instead of a few per weight); other policies and served linears one by one.
     */
    static Prepared[] prepareAll(Backend backend, List<Linear> linears, LinearPolicy policy, float phaseIn, tern.runtime.DType operand) {
        Prepared[] out = new Prepared[linears.size()];
        List<Tensor> floats = new ArrayList<>(), floatOps = new ArrayList<>(), ternary = new ArrayList<>(), ternaryOps = new ArrayList<>();
        List<ShardAxis> axes = new ArrayList<>();
        boolean dense16 = operand != tern.runtime.DType.F32;
        boolean isFloat = policy instanceof LinearPolicy.Float || phaseIn == 0f;
        boolean isTernary = policy instanceof LinearPolicy.Ternary && phaseIn == 1f;
        for (int i = 0; i < out.length; i++) {
            Linear l = linears.get(i);
            if (l.served != null || !dense16) {
                out[i] = l.prepareF32(backend, policy, phaseIn);
                continue;
            }
            Tensor w = l.weight.value;
            Tensor op = backend.zeros(operand, w.shape());
            out[i] = new Dense(op, true);
            if (isFloat) {
                floats.add(w);
                floatOps.add(op);
            } else if (isTernary) {
                ternary.add(w);
                ternaryOps.add(op);
                axes.add(l.shardAxis);
            } else {
                try (Prepared f32 = l.prepareF32(backend, policy, phaseIn)) {
                    backend.convert(((Dense) f32).used(), op);    // only λ = 1 ternary is packed, handled above
                }
            }
        }
        if (!floats.isEmpty()) backend.convertAll(floats, floatOps);
        if (!ternary.isEmpty())
            backend.quantizeTernaryAllInto(ternary, ((LinearPolicy.Ternary) policy).shards(), axes, TERNARY_EPS, ternaryOps);
        return out;
    }

    private Prepared prepareF32(Backend backend, LinearPolicy policy, float phaseIn) {
        if (served != null) return new Packed(served, false);
        Tensor w = weight.value;
        if (policy instanceof LinearPolicy.Float || phaseIn == 0f) return new Dense(w, false);
        if (policy instanceof LinearPolicy.Ternary(int shards) && phaseIn == 1f)
            return new Packed(backend.packTernary(w, shards, shardAxis, TERNARY_EPS), true);
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
            throw new IllegalArgumentException(name + " expects " + inFeatures() + " input features, got "
                    + x.value.describe());
        return switch (p) {
            case Dense(Tensor used, boolean owned) -> tape.linear(x, tape.param(weight()), used);
            case Packed(TernaryWeights packed, boolean owned) ->
                    tape.linearTernary(x, weight != null ? tape.param(weight) : tape.constant(packed.packed()), packed);
        };
    }

    /**
     * y_i = x·Ŵ_iᵀ for linears that read the same x (q, k, v; gate, up). Off the tape's record and with every
     * weight packed, one {@link Backend#ternaryMatmulShared} does them all (CPU: one pass over x, one
     * parallel loop); otherwise each is {@link #forward}.
     */
    static Var[] forwardShared(Tape tape, Var x, Linear[] linears, Prepared[] ps) {
        Var[] ys = new Var[linears.length];
        boolean shared = !tape.recording() && linears.length > 1;
        for (int i = 0; i < linears.length && shared; i++) shared = ps[i] instanceof Packed && linears[i].inFeatures() == x.cols();
        if (!shared) {
            for (int i = 0; i < linears.length; i++) ys[i] = linears[i].forward(tape, x, ps[i]);
            return ys;
        }
        TernaryWeights[] ws = new TernaryWeights[linears.length];
        Tensor[] out = new Tensor[linears.length];
        for (int i = 0; i < linears.length; i++) {
            ws[i] = ((Packed) ps[i]).weights();
            out[i] = tape.temp(x.rows(), ws[i].rows());
            ys[i] = tape.constant(out[i]);
        }
        tape.backend().ternaryMatmulShared(x.value, ws, out);
        return ys;
    }

    @Override
    public void close() { if (served != null) served.close(); }

    @Override public String toString() {
        return "Linear " + name + " [" + outFeatures() + ", " + inFeatures() + "]" + (served != null ? " (packed)" : "") + " shards along " + shardAxis;
    }
}
