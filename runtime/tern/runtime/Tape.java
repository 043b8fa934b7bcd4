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
 */
public final class Tape implements AutoCloseable {
    private final Backend backend;
    private final boolean recording;
    private final List<Runnable> backwardSteps = new ArrayList<>();
    private final List<Tensor> owned = new ArrayList<>();
    private boolean backwardDone;

    /** A tape that records for a backward pass. */
    public Tape(Backend backend) { this(backend, true); }

    /** {@code recording = false}: inference only; ops save nothing for a backward pass. */
    public Tape(Backend backend, boolean recording) {
        this.backend = backend;
        this.recording = recording;
    }

    public Backend backend() { return backend; }

    public boolean recording() { return recording; }

    // ---- leaves ---------------------------------------------------------------------------------------

    public Var param(Parameter p) { return new Var(p.value, p, recording); }

    /** A value that needs no gradient (inputs, masks). The tape does not take ownership. */
    public Var constant(Tensor t) { return new Var(t, null, false); }

    /** A value whose gradient is wanted (tests of input gradients). The tape does not take ownership. */
    public Var input(Tensor t) { return new Var(t, null, recording); }

    /** A tensor freed with the tape. */
    public Tensor temp(int... shape) {
        Tensor t = backend.zeros(DType.F32, shape);
        owned.add(t);
        return t;
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

    private void onBackward(Var out, Runnable step) {
        if (out.requiresGrad) backwardSteps.add(step);
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
    public Var linear(Var x, Var w, Tensor used) {
        int m = x.rows(), out = used.rows();
        Tensor y = temp(shapeWithCols(x.value, out));
        backend.matmul(x.value, false, used, true, y, false);
        Var r = result(y, x, w);
        onBackward(r, () -> {
            Tensor dy = gradOf(r);
            if (dy == null) return;
            if (x.requiresGrad) {
                Tensor dx = temp(x.value.shape());
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
    public Var linearTernary(Var x, Var w, TernaryWeights packed) {
        int m = x.rows();
        Tensor y = temp(shapeWithCols(x.value, packed.rows()));
        backend.ternaryMatmul(x.value, packed, y, false);
        Var r = result(y, x, w);
        onBackward(r, () -> {
            Tensor dy = gradOf(r);
            if (dy == null) return;
            if (x.requiresGrad) {
                Tensor dx = temp(x.value.shape());
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
            Tensor dw = temp(w.value.shape());
            backend.matmul(dy, true, x, false, dw, false);
            accumulate(w, dw);
        }
    }

    /** Fake quantization with a straight-through backward: the gradient passes unchanged. */
    public Var straightThrough(Var x, Tensor quantized) {
        Var r = result(quantized, x);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor copy = temp(x.value.shape());
            backend.copy(g, copy);
            accumulate(x, copy);
        });
        return r;
    }

    /** Symmetric k-bit fake quantization per token (row) with straight-through gradient (activations, KV). */
    public Var quantizeTokens(Var x, int bits) {
        Tensor q = temp(x.value.shape());
        backend.quantizeSymmetric(x.value, bits, Granularity.ROW, q);
        return straightThrough(x, q);
    }

    public Var add(Var a, Var b) {
        Tensor out = temp(a.value.shape());
        backend.add(a.value, b.value, out);
        Var r = result(out, a, b);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            if (a.requiresGrad) accumulate(a, copyOf(g));
            if (b.requiresGrad) accumulate(b, copyOf(g));
        });
        return r;
    }

    private Tensor copyOf(Tensor g) {
        Tensor c = temp(g.shape());
        backend.copy(g, c);
        return c;
    }

    /** Rows of table for ids: [ids.length, dim]. */
    public Var embedding(Var table, int[] ids) {
        Tensor out = temp(ids.length, table.cols());
        backend.embedding(table.value, ids, out);
        Var r = result(out, table);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            if (table.parameter != null) {
                backend.embeddingBackward(g, ids, table.parameter.grad);
            } else {
                Tensor dt = temp(table.value.shape());
                backend.embeddingBackward(g, ids, dt);
                accumulate(table, dt);
            }
        });
        return r;
    }

    public Var rmsnorm(Var x, Var weight, float eps) {
        Tensor out = temp(x.value.shape());
        Tensor rstd = temp(x.rows());
        backend.rmsnorm(x.value, weight.value, eps, out, rstd);
        Var r = result(out, x, weight);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dx = temp(x.value.shape());
            Tensor dw = weight.parameter != null ? weight.parameter.grad : temp(weight.value.shape());
            backend.rmsnormBackward(g, x.value, weight.value, rstd, dx, dw);
            accumulate(x, dx);
            if (weight.parameter == null) accumulate(weight, dw);
        });
        return r;
    }

    /** Rotary positions for [batch·seq, heads·headDim]; positions start at posOffset. */
    public Var rope(Var x, int seq, int heads, int headDim, float theta, int posOffset) {
        Tensor out = temp(x.value.shape());
        backend.rope(x.value, seq, heads, headDim, theta, posOffset, false, out);
        Var r = result(out, x);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dx = temp(x.value.shape());
            backend.rope(g, seq, heads, headDim, theta, posOffset, true, dx);
            accumulate(x, dx);
        });
        return r;
    }

    /** Causal self-attention over q, k, v [batch·seq, heads·headDim] (qLen = kvLen = seq). */
    public Var attention(Var q, Var k, Var v, int batch, int seq, int heads, int headDim) {
        Tensor out = temp(q.value.shape());
        Tensor lse = temp(batch, heads, seq);
        backend.attention(q.value, k.value, v.value, batch, seq, seq, heads, headDim, out, lse);
        Var r = result(out, q, k, v);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dq = temp(q.value.shape()), dk = temp(k.value.shape()), dv = temp(v.value.shape());
            backend.attentionBackward(g, q.value, k.value, v.value, out, lse, batch, seq, seq, heads, headDim, dq, dk, dv);
            accumulate(q, dq);
            accumulate(k, dk);
            accumulate(v, dv);
        });
        return r;
    }

    /** silu(gate) ⊙ up. */
    public Var swiglu(Var gate, Var up) {
        Tensor out = temp(gate.value.shape());
        backend.swiglu(gate.value, up.value, out);
        Var r = result(out, gate, up);
        onBackward(r, () -> {
            Tensor g = gradOf(r);
            if (g == null) return;
            Tensor dg = temp(gate.value.shape()), du = temp(up.value.shape());
            backend.swigluBackward(g, gate.value, up.value, dg, du);
            accumulate(gate, dg);
            accumulate(up, du);
        });
        return r;
    }

    /**
     * Mean cross-entropy of logits against targets (−1 ignored). The gradient of
     * {@code lossScale}·loss is computed in the same pass and flows back on {@link #backward}
     * ({@code lossScale} = 1/accumulation steps when micro-batches are summed).
     */
    public float crossEntropy(Var logits, int[] targets, float lossScale) {
        Tensor dlogits = logits.requiresGrad ? temp(logits.value.shape()) : null;
        float loss = backend.crossEntropy(logits.value, targets, dlogits, lossScale);
        if (dlogits != null) {
            backwardSteps.add(() -> accumulate(logits, dlogits));
        }
        return loss;
    }

    /**
     * Backward from an arbitrary output with a given upstream gradient ∂L/∂output (tests, custom losses).
     * The seed is copied; the caller keeps ownership of it.
     */
    public void backward(Var output, Tensor outputGrad) {
        if (output.value.size() != outputGrad.size())
            throw new IllegalArgumentException("seed gradient " + outputGrad.describe() + " does not match output " + output.value.describe());
        accumulate(output, copyOf(outputGrad));
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
