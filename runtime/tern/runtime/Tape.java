package tern.runtime;

import java.util.ArrayList;
import java.util.List;

/**
 * Reverse-mode autograd over {@link Backend} ops. Each op computes its forward on the backend, records a
 * closure that computes its backward, and returns a {@link Var}. {@link #backward} seeds the loss gradient
 * and runs the closures in reverse. The tape owns every tensor it allocates (activations, saved state,
 * activation gradients) and frees them on {@link #close()}; parameters and their gradients outlive it.
 *
 * <p>Gradient flow into a Var: the first contribution is adopted as its gradient, later ones are added,
 * so a value used twice (the residual stream) sums its gradients. Parameters always accumulate, which is
 * what gradient accumulation over micro-batches needs.
 *
 * <p>Element types. Activations and their gradients are stored in the tape's {@link #activationType}: the
 * backend's ({@link Backend#activationType}, bf16 on a GPU computing in bf16) on a recording tape, f32 on a
 * non-recording one (inference paths read f32). An activation of another type entering an op (an f32 input
 * on a bf16 tape) is converted first, its gradient converted back. A gradient always has its value's type;
 * parameters, their gradients, rstd and lse stay f32.
 */
public final class Tape implements AutoCloseable {
    private final Backend backend;
    private final boolean recording;
    private final DType activations;
    private final List<Runnable> backwardSteps = new ArrayList<>();
    private final java.util.Set<Tensor> owned = new java.util.LinkedHashSet<>();   // identity: Tensor keeps Object's equals
    private boolean backwardDone;

    /** A tape that records for a backward pass, its activations in the backend's {@link Backend#activationType}. */
    public Tape(Backend backend) { this(backend, true); }

    /** {@code recording = false}: inference only; ops save nothing for a backward pass, activations are f32. */
    public Tape(Backend backend, boolean recording) {
        this(backend, recording, recording ? backend.activationType() : DType.F32);
    }

    /** A tape whose activations are stored as {@code activations} (f32, or what the backend takes). */
    public Tape(Backend backend, boolean recording, DType activations) {
        this.backend = backend;
        this.recording = recording;
        this.activations = activations;
    }

    public Backend backend() { return backend; }

    /** The element type of this tape's activations and their gradients. */
    public DType activationType() { return activations; }

    public boolean recording() { return recording; }

    // ---- leaves ---------------------------------------------------------------------------------------

    public Var param(Parameter p) { return new Var(p.value, p, recording); }

    /** A value that needs no gradient (inputs, masks). The tape does not take ownership. */
    public Var constant(Tensor t) { return new Var(t, null, false); }

    /** A value whose gradient is wanted (tests of input gradients). The tape does not take ownership. */
    public Var input(Tensor t) { return new Var(t, null, recording); }

    /** An activation-typed tensor freed with the tape. */
    public Tensor temp(int... shape) {
        return temp(activations, shape);
    }

    /** A tensor of {@code dtype} freed with the tape (f32 row statistics beside bf16 activations). */
    public Tensor temp(DType dtype, int... shape) {
        Tensor t = backend.zeros(dtype, shape);
        owned.add(t);
        return t;
    }

    /**
     * An activation-typed tensor freed with the tape, its contents undefined ({@link Backend#empty}): for an op's
     * output that the backend overwrites whole (no memset per temporary).
     */
    private Tensor written(int... shape) {
        return written(activations, shape);
    }

    private Tensor written(DType dtype, int... shape) {
        Tensor t = backend.empty(dtype, shape);
        owned.add(t);
        return t;
    }

    /** A tensor shaped and typed like {@code t}, freed with the tape (gradients: a gradient has its value's type). */
    private Tensor like(Tensor t) {
        return temp(t.dtype(), t.shape());
    }

    /**
     * x as this tape's activation type: x itself, or (an f32 input on a bf16 tape) a converted copy whose
     * gradient is converted back into x's.
     */
    private Var act(Var x) {
        if (x.value.dtype() == activations) return x;
        Tensor out = written(x.value.shape());
        backend.convert(x.value, out);
        Var r = result(out, x);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor back = like(x.value);
            backend.convert(g, back);
            accumulate(x, back);
        });
        return r;
    }

    /** Takes ownership of a tensor made elsewhere (packed weights, fake-quantized copies). */
    public <T extends Tensor> T own(T t) {
        owned.add(t);
        return t;
    }

    private Var result(Tensor value, Var... inputs) {
        boolean needs = false;
        for (Var v : inputs) needs |= v.requiresGrad;
        return new Var(value, null, recording && needs);
    }

    /**
     * Records out's backward step. Once it has run, out's gradient has been consumed (every use of out was
     * recorded after out, so its gradient was complete before the step) and is freed at once: the
     * backward pass then holds a few gradients at a time instead of one per activation.
     */
    private void onBackward(Var out, Runnable step) {
        if (out.requiresGrad) backwardSteps.add(() -> {
            step.run();
            if (out.parameter == null && out.grad != null) {
                release(out.grad);
                out.grad = null;
            }
        });
    }

    /** Adds {@code g} into v's gradient; the tape may adopt {@code g} itself, so callers must not reuse it. */
    private void accumulate(Var v, Tensor g) {
        if (!v.requiresGrad) return;
        if (v.parameter != null) {
            backend.axpy(1f, g, v.parameter.grad);
        } else if (v.grad == null) {
            v.grad = g;
        } else {
            backend.axpy(1f, g, v.grad);
        }
    }

    /** The gradient of out, or null when nothing flowed into it (its backward contributes nothing). */
    private static Tensor gradOf(Var out) { return out.grad(); }

    // ---- ops ------------------------------------------------------------------------------------------

    /** y = x·Wᵀ with W [out, in] used as given (float linear layer). */
    public Var linear(Var x, Var w) {
        return linear(x, w, w.value);
    }

    /**
     * y = x·Ŵᵀ where Ŵ = {@code used} is a transformed copy of w (fake-quantized, phased in). The backward
     * is straight-through: ∂L/∂W := ∂L/∂Ŵ = dyᵀ·x, and dx = dy·Ŵ.
     */
    public Var linear(Var xIn, Var w, Tensor used) {
        Var x = act(xIn);
        int m = x.rows(), out = used.rows();
        Tensor y = written(shapeWithCols(x.value, out));
        backend.matmul(x.value, false, used, true, y, false);
        Var r = result(y, x, w);
        onBackward(r, () -> {
            Tensor dy = gradOf(r);
            if (dy == null) return;
            if (x.requiresGrad && x.parameter == null && x.grad != null) {
                backend.matmul(dy, false, used, false, x.grad, true);   // added in the product: no temporary, one rounding
            } else if (x.requiresGrad) {
                Tensor dx = written(x.value.shape());
                backend.matmul(dy, false, used, false, dx, false);
                accumulate(x, dx);
            }
            weightGrad(w, dy, x.value, m);
        });
        return r;
    }

    /**
     * y = x·(γT)ᵀ on packed ternary weights, additions and subtractions only; backward dx = dy·(γT) on the
     * same packed weights, and the straight-through weight gradient dyᵀ·x into the float latent W.
     */
    public Var linearTernary(Var xIn, Var w, TernaryWeights packed) {
        Var x = act(xIn);
        int m = x.rows();
        Tensor y = written(shapeWithCols(x.value, packed.rows()));
        backend.ternaryMatmul(x.value, packed, y, false);
        Var r = result(y, x, w);
        onBackward(r, () -> {
            Tensor dy = gradOf(r);
            if (dy == null) return;
            if (x.requiresGrad && x.parameter == null && x.grad != null) {
                backend.ternaryMatmulT(dy, packed, x.grad, true);
            } else if (x.requiresGrad) {
                Tensor dx = written(x.value.shape());
                backend.ternaryMatmulT(dy, packed, dx, false);
                accumulate(x, dx);
            }
            weightGrad(w, dy, x.value, m);
        });
        return r;
    }

    private void weightGrad(Var w, Tensor dy, Tensor x, int m) {
        if (!w.requiresGrad) return;
        if (w.parameter != null) {
            backend.matmul(dy, true, x, false, w.parameter.grad, true);   // dW += dyᵀ·x
        } else {
            Tensor dw = like(w.value);
            backend.matmul(dy, true, x, false, dw, false);
            accumulate(w, dw);
        }
    }

    /**
     * Tensor parallelism's all-reduce after a row-parallel linear (o, down): the forward replaces each
     * rank's partial product by the sum over {@code group}'s ranks; every rank then holds the same sum, so
     * the backward passes the gradient through unchanged (Megatron's "g").
     */
    public Var sumOverRanks(Var xIn, GradientSync group) {
        Var x = act(xIn);
        Tensor out = copyOf(x.value);
        group.sumInPlace(List.of(out));
        Var r = result(out, x);
        onBackward(r, () -> { if (gradOf(r) != null) give(x, r); });
        return r;
    }

    /**
     * Tensor parallelism's all-reduce before column-parallel linears (q, k, v; gate, up): the forward is the
     * identity (every rank holds the same input), the backward sums the input gradient over {@code group},
     * since each rank's linears saw only their own output rows (Megatron's "f").
     */
    public Var sumGradientOverRanks(Var xIn, GradientSync group) {
        Var x = act(xIn);
        Var r = result(copyOf(x.value), x);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            group.sumInPlace(List.of(g));
            give(x, r);
        });
        return r;
    }

    /** Fake quantization with a straight-through backward: the gradient passes unchanged. */
    public Var straightThrough(Var x, Tensor quantized) {
        Var r = result(quantized, x);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor copy = like(x.value);
            backend.convert(g, copy);
            accumulate(x, copy);
        });
        return r;
    }

    /** Symmetric k-bit fake quantization per token (row) with straight-through gradient (activations, KV). */
    public Var quantizeTokens(Var xIn, int bits) {
        Var x = act(xIn);
        Tensor q = written(x.value.shape());
        backend.quantizeSymmetric(x.value, bits, Granularity.ROW, q);
        return straightThrough(x, q);
    }

    public Var add(Var aIn, Var bIn) {
        Var a = act(aIn), b = act(bIn);
        Tensor out = written(a.value.shape());
        backend.add(a.value, b.value, out);
        Var r = result(out, a, b);
        onBackward(r, () -> passToBoth(r, a, b));
        return r;
    }

    /**
     * out's gradient g flows unchanged into a and b (a sum's backward): b gets a copy when a needs g too, and a
     * gets g itself (no copy) when it has no gradient yet, else g is added into a's.
     */
    private void passToBoth(Var out, Var a, Var b) {
        if (gradOf(out) == null) return;
        if (a.requiresGrad && b.requiresGrad) accumulate(b, copyOf(out.grad));
        if (a.requiresGrad) give(a, out);
        else if (b.requiresGrad) give(b, out);
    }

    /** Hands from's gradient to v: adopted when v has none yet (then no longer from's to free), else added. */
    private void give(Var v, Var from) {
        boolean adopt = v.parameter == null && v.grad == null;
        accumulate(v, from.grad);
        if (adopt) from.grad = null;
    }

    /**
     * The residual add and the RMSNorm after it, {sum = a + b, rmsnorm(sum)}, in one backend op
     * ({@link Backend#addRmsnorm}); the backward adds sum's own gradient into the norm's input gradient in the
     * same pass ({@link Backend#rmsnormBackward(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)}). The
     * values and gradients are those of {@code add} then {@code rmsnorm}.
     */
    public Var[] addRmsnorm(Var aIn, Var bIn, Var weight, float eps) {
        Var a = act(aIn), b = act(bIn);
        Tensor sum = written(a.value.shape()), out = written(a.value.shape());
        Tensor rstd = written(DType.F32, a.rows());
        backend.addRmsnorm(a.value, b.value, weight.value, eps, sum, out, rstd);
        Var s = result(sum, a, b), n = result(out, a, b, weight);
        if (s.requiresGrad || n.requiresGrad) backwardSteps.add(() -> {
            Tensor gn = gradOf(n), gs = gradOf(s);
            if (gn != null) {
                Tensor dw = weight.parameter != null ? weight.parameter.grad : like(weight.value);
                Tensor ds = gs != null ? gs : written(sum.shape());
                backend.rmsnormBackward(gn, sum, weight.value, rstd, gs != null ? gs : null, ds, dw);
                if (weight.parameter == null) accumulate(weight, dw);
                release(gn);
                n.grad = null;
                s.grad = ds;                           // sum's full gradient, passed on below
            }
            passToBoth(s, a, b);
            if (s.grad != null) {
                release(s.grad);
                s.grad = null;
            }
        });
        return new Var[] {s, n};
    }

    private Tensor copyOf(Tensor g) {
        Tensor c = written(g.dtype(), g.shape());
        backend.copy(g, c);
        return c;
    }

    /** Rows of table for ids: [ids.length, dim]. */
    public Var embedding(Var table, int[] ids) {
        Tensor out = written(ids.length, table.cols());
        backend.embedding(table.value, ids, out);
        Var r = result(out, table);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            if (table.parameter != null) {
                backend.embeddingBackward(g, ids, table.parameter.grad);
            } else {
                Tensor dt = like(table.value);
                backend.embeddingBackward(g, ids, dt);
                accumulate(table, dt);
            }
        });
        return r;
    }

    public Var rmsnorm(Var xIn, Var weight, float eps) {
        Var x = act(xIn);
        Tensor out = written(x.value.shape());
        Tensor rstd = written(DType.F32, x.rows());
        backend.rmsnorm(x.value, weight.value, eps, out, rstd);
        Var r = result(out, x, weight);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dx = written(x.value.shape());
            Tensor dw = weight.parameter != null ? weight.parameter.grad : like(weight.value);
            backend.rmsnormBackward(g, x.value, weight.value, rstd, dx, dw);
            accumulate(x, dx);
            if (weight.parameter == null) accumulate(weight, dw);
        });
        return r;
    }

    /** Rotary positions for [batch·seq, heads·headDim]; positions start at posOffset. */
    public Var rope(Var xIn, int seq, int heads, int headDim, float theta, int posOffset) {
        Var x = act(xIn);
        Tensor out = written(x.value.shape());
        backend.rope(x.value, seq, heads, headDim, theta, posOffset, false, out);
        Var r = result(out, x);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dx = written(x.value.shape());
            backend.rope(g, seq, heads, headDim, theta, posOffset, true, dx);
            accumulate(x, dx);
        });
        return r;
    }

    /** Causal self-attention over q, k, v [batch·seq, heads·headDim] (qLen = kvLen = seq). */
    public Var attention(Var qIn, Var kIn, Var vIn, int batch, int seq, int heads, int headDim) {
        return attentionNode(qIn, kIn, vIn, batch, heads, seq,
                (q, k, v, out, lse) -> backend.attention(q, k, v, batch, seq, seq, heads, headDim, out, lse),
                (g, q, k, v, out, lse, dq, dk, dv) -> backend.attentionBackward(g, q, k, v, out, lse, batch, seq, seq, heads, headDim, dq, dk, dv));
    }

    /** The forward and backward kernels of one attention node (plain or with RoPE applied inside). */
    private interface AttentionForward { void run(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse); }
    private interface AttentionBackward { void run(Tensor g, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dq, Tensor dk, Tensor dv); }

    /** One attention node: out and the log-sum-exp kept for the backward, which accumulates dq, dk, dv. */
    private Var attentionNode(Var qIn, Var kIn, Var vIn, int batch, int heads, int seq, AttentionForward forward, AttentionBackward backward) {
        Var q = act(qIn), k = act(kIn), v = act(vIn);
        Tensor out = written(q.value.shape());
        Tensor lse = written(DType.F32, batch, heads, seq);
        forward.run(q.value, k.value, v.value, out, lse);
        Var r = result(out, q, k, v);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dq = written(q.value.shape()), dk = written(k.value.shape()), dv = written(v.value.shape());
            backward.run(g, q.value, k.value, v.value, out, lse, dq, dk, dv);
            accumulate(q, dq);
            accumulate(k, dk);
            accumulate(v, dv);
        });
        return r;
    }

    /**
     * RoPE on q and k (positions from 0), then causal self-attention, as {@link #rope} twice and
     * {@link #attention}: one op when the backend applies the rotation inside its attention
     * ({@link Backend#fusesRopeAttention}), the three otherwise.
     */
    public Var ropeAttention(Var qIn, Var kIn, Var vIn, int batch, int seq, int heads, int headDim, float theta) {
        if (!backend.fusesRopeAttention(headDim))
            return attention(rope(qIn, seq, heads, headDim, theta, 0), rope(kIn, seq, heads, headDim, theta, 0), vIn, batch, seq, heads, headDim);
        return attentionNode(qIn, kIn, vIn, batch, heads, seq,
                (q, k, v, out, lse) -> backend.ropeAttention(q, k, v, batch, seq, heads, headDim, theta, out, lse),
                (g, q, k, v, out, lse, dq, dk, dv) -> backend.ropeAttentionBackward(g, q, k, v, out, lse, batch, seq, heads, headDim, theta, dq, dk, dv));
    }

    /** silu(gate) ⊙ up. */
    public Var swiglu(Var gateIn, Var upIn) {
        Var gate = act(gateIn), up = act(upIn);
        Tensor out = written(gate.value.shape());
        backend.swiglu(gate.value, up.value, out);
        Var r = result(out, gate, up);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dg = written(gate.value.shape()), du = written(up.value.shape());
            backend.swigluBackward(g, gate.value, up.value, dg, du);
            accumulate(gate, dg);
            accumulate(up, du);
        });
        return r;
    }

    // ---- activation checkpointing -------------------------------------------------------------------

    /** A piece of the forward pass that can run on any tape (one transformer block). */
    @FunctionalInterface
    public interface Block {
        /** The block's output for input {@code x}, computed with {@code tape}'s ops. */
        Var apply(Tape tape, Var x);
    }

    /**
     * {@code block(x)} without keeping its intermediates: the forward runs on a non-recording tape whose
     * tensors are freed at once (only the output is kept), and the backward runs the block again on a
     * recording tape, back-propagates through it and frees that tape. Peak memory for a stack of blocks
     * becomes one block's activations plus each block's input, for one extra forward per block.
     *
     * <p>The gradients are those of {@code block(this, x)} itself, bit for bit, when the backend is
     * deterministic: the recomputed forward is the same sequence of ops on the same inputs, and the
     * block's backward steps run in the same order as they would on this tape. The block must not depend
     * on state that changes between the two runs (no sampling) and must reach parameters only through
     * {@link #param} of the tape it is given. On a non-recording tape this is just {@code block(this, x)}.
     */
    public Var checkpoint(Var x, Block block) {
        if (!recording) return block.apply(this, x);
        Tensor y;
        try (Tape forward = new Tape(backend, false, activations)) {
            y = forward.handOver(block.apply(forward, forward.constant(x.value)).value, this);
        }
        Var r = new Var(y, null, true);
        backwardSteps.add(() -> {
            Tensor dy = gradOf(r);
            if (dy == null) return;
            try (Tape again = new Tape(backend, true, activations)) {
                Var in = x.requiresGrad ? again.input(x.value) : again.constant(x.value);
                Var out = again.checkOutput(block.apply(again, in), y);
                if (out.requiresGrad) {
                    out.grad = dy;                     // seeded without a copy; this tape does not own dy
                    again.backward();
                }
                if (x.requiresGrad && in.grad != null) accumulate(x, again.handOver(in.grad, this));
            }
            r.grad = null;
            release(dy);                               // dead: the block's backward has consumed it
        });
        return r;
    }

    /** The recomputed output must have the shape the first run gave (a block that changed between runs). */
    private Var checkOutput(Var out, Tensor first) {
        if (!java.util.Arrays.equals(out.value.shape(), first.shape()))
            throw new IllegalStateException("checkpointed block gave " + out.value.describe() + " when recomputed, "
                    + first.describe() + " the first time: a block must compute the same function both times");
        return out;
    }

    /**
     * Moves {@code t} to {@code to}'s ownership when this tape owns it (no copy); otherwise (a view, or
     * a tensor this tape does not own) returns a copy owned by {@code to}.
     */
    private Tensor handOver(Tensor t, Tape to) {
        if (owned.remove(t)) {
            to.owned.add(t);
            return t;
        }
        Tensor c = to.like(t);
        backend.copy(t, c);
        return c;
    }

    /** Frees {@code t} now if this tape owns it (the caller knows nothing else still reads it). */
    private void release(Tensor t) {
        if (owned.remove(t)) t.close();
    }

    /**
     * Mean cross-entropy of logits against targets (−1 ignored). The gradient of
     * {@code lossScale}·loss is computed in the same pass and flows back on {@link #backward}
     * ({@code lossScale} = 1/accumulation steps when micro-batches are summed).
     */
    public float crossEntropy(Var logitsIn, int[] targets, float lossScale) {
        Var logits = act(logitsIn);
        Tensor dlogits = logits.requiresGrad ? temp(logits.value.shape()) : null;
        float loss = backend.crossEntropy(logits.value, targets, dlogits, lossScale);
        if (dlogits != null) {
            backwardSteps.add(() -> accumulate(logits, dlogits));
        }
        return loss;
    }

    /** Logits computed at once by {@link #linearCrossEntropy}: 2²⁷ floats (512 MiB in f32). */
    public static final long LOGITS_CHUNK_FLOATS = 1L << 27;

    /**
     * Mean cross-entropy of the logits x·Wᵀ against targets (−1 ignored), as {@code crossEntropy(linear(x,
     * w), targets, lossScale)} computes it, but over chunks of rows, so that at most
     * {@link #LOGITS_CHUNK_FLOATS} logits (and as many logit gradients) exist at a time instead of
     * rows × vocab of each: at 16k tokens and a 50,304-token vocabulary that is 0.5 instead of 6.6 GB.
     * Each chunk's logit gradient is turned into its rows of dx = dlogits·W and its term of
     * dW = dlogitsᵀ·x at once, before the next chunk; they flow back on {@link #backward}.
     *
     * <p>The loss is the mean over all counted rows: chunk c's mean is weighted by its count n_c, and its
     * gradient is scaled by lossScale·n_c/N, so each row gets lossScale/N as in the whole-matrix form, up
     * to the rounding of that product (a few ulp).
     */
    public float linearCrossEntropy(Var x, Var w, int[] targets, float lossScale) {
        return linearCrossEntropy(x, w, targets, lossScale, (int) Math.max(1, LOGITS_CHUNK_FLOATS / w.rows()));
    }

    /** As {@link #linearCrossEntropy(Var, Var, int[], float)} with chunks of {@code chunkRows} rows. */
    public float linearCrossEntropy(Var xIn, Var w, int[] targets, float lossScale, int chunkRows) {
        return (float) linearCrossEntropyLater(xIn, w, targets, lossScale, chunkRows).getAsDouble();
    }

    /**
     * {@link #linearCrossEntropy(Var, Var, int[], float)} whose loss is read when the supplier is asked: a
     * step replayed as a graph ({@link StepReplay}) has the chunks' losses only after the replay. The same
     * value, from the same chunk losses added in the same order.
     */
    public java.util.function.DoubleSupplier linearCrossEntropyLater(Var x, Var w, int[] targets, float lossScale) {
        return linearCrossEntropyLater(x, w, targets, lossScale, (int) Math.max(1, LOGITS_CHUNK_FLOATS / w.rows()));
    }

    private java.util.function.DoubleSupplier linearCrossEntropyLater(Var xIn, Var w, int[] targets, float lossScale, int chunkRows) {
        Var x = act(xIn);
        int n = x.rows(), vocab = w.rows(), h = x.cols();
        if (chunkRows < 1) throw new IllegalArgumentException("chunkRows must be positive, got " + chunkRows);
        if (w.cols() != h)
            throw new IllegalArgumentException("linearCrossEntropy: weight " + w.value.describe() + " does not take " + h + " input features");
        if (targets.length != n)
            throw new IllegalArgumentException("linearCrossEntropy: " + targets.length + " targets for " + n + " rows of " + x.value.describe());
        int counted = 0;
        for (int i = 0; i < n; i++) {
            int t = targets[i];
            if (t == -1) continue;
            if (t < 0 || t >= vocab)
                throw new IllegalArgumentException("linearCrossEntropy: target " + t + " at row " + i + " is outside the vocabulary [0, " + vocab + ")");
            counted++;
        }
        if (n == 0 || counted == 0) return () -> 0f;     // as crossEntropy: no counted row, loss 0 and gradient 0
        boolean wantDx = x.requiresGrad, wantDw = w.requiresGrad;
        Tensor xs = x.value.reshape(n, h);
        Tensor dx = wantDx ? temp(n, h) : null;
        Tensor dw = wantDw ? like(w.value) : null;
        int rows = Math.min(chunkRows, n);
        java.util.List<java.util.function.DoubleSupplier> chunkLosses = new ArrayList<>();
        java.util.List<Integer> chunkCounts = new ArrayList<>();
        // Logits in f32 (the softmax reads them once), their gradient in the activation type; the weight
        // rounded to it once here rather than by each of the chunks' products.
        boolean cast = w.value.dtype() != activations && activations != DType.F32;
        try (Tensor logits = backend.zeros(DType.F32, rows, vocab);
             Tensor dlogits = wantDx || wantDw ? backend.zeros(activations, rows, vocab) : null;
             Tensor wc = cast ? backend.zeros(activations, w.value.shape()) : null) {
            Tensor weight = cast ? wc : w.value;
            if (cast) backend.convert(w.value, wc);
            for (int r0 = 0; r0 < n; r0 += rows) {
                int r1 = Math.min(n, r0 + rows);
                int[] t = java.util.Arrays.copyOfRange(targets, r0, r1);
                int c = 0;
                for (int v : t) if (v != -1) c++;
                Tensor xc = xs.slice(r0, r1), lc = logits.slice(0, r1 - r0);
                Tensor dc = dlogits == null ? null : dlogits.slice(0, r1 - r0);
                backend.matmul(xc, false, weight, true, lc, false);
                float scale = c == counted ? lossScale : lossScale * c / counted;   // one chunk: exactly crossEntropy
                chunkLosses.add(backend.crossEntropyLater(lc, t, dc, scale));
                chunkCounts.add(c);
                if (dc == null || c == 0) continue;   // dx rows stay zero (temps start zeroed), no dW term
                if (dx != null) backend.matmul(dc, false, weight, false, dx.slice(r0, r1), false);
                if (dw != null) backend.matmul(dc, true, xc, false, dw, r0 > 0);
            }
        }
        if (dx != null || dw != null) {
            backwardSteps.add(() -> {
                if (dx != null) accumulate(x, dx.reshape(x.value.shape()));
                if (dw != null) accumulate(w, dw);
            });
        }
        int total = counted;
        return () -> {
            double sum = 0;
            for (int i = 0; i < chunkLosses.size(); i++) sum += (double) (float) chunkLosses.get(i).getAsDouble() * chunkCounts.get(i);
            return (float) (sum / total);
        };
    }

    /**
     * Backward from an arbitrary output with a given upstream gradient ∂L/∂output (tests, custom losses).
     * The seed is copied; the caller keeps ownership of it.
     */
    public void backward(Var output, Tensor outputGrad) {
        if (output.value.size() != outputGrad.size())
            throw new IllegalArgumentException("seed gradient " + outputGrad.describe() + " does not match output " + output.value.describe());
        Tensor seed = like(output.value);
        backend.convert(outputGrad, seed);
        accumulate(output, seed);
        backward();
    }

    /** Runs the recorded backward steps in reverse. Call once, after the loss op. */
    public void backward() {
        if (!recording) throw new IllegalStateException("this tape was created without recording");
        if (backwardDone) throw new IllegalStateException("backward already ran on this tape");
        backwardDone = true;
        for (int i = backwardSteps.size() - 1; i >= 0; i--) backwardSteps.get(i).run();
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
        backwardSteps.clear();
    }

    private static int[] shapeWithCols(Tensor like, int cols) {
        int[] s = like.shape();
        s[s.length - 1] = cols;
        return s;
    }
}
