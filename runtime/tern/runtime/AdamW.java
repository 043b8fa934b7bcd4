package tern.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay and bias correction, PyTorch's update rule
 * (see {@link AdamWParams}). Two parameter groups: parameters with {@link Parameter#decay} get the
 * scheduled weight decay, the others none. Moments live on the parameters' device and are part of the
 * training state (checkpointed, optionally reset at a precision switch).
 */
public final class AdamW implements AutoCloseable {
    public final float beta1, beta2, eps;
    private final Backend backend;
    private final List<Parameter> params;
    private final Map<Parameter, Tensor[]> moments = new LinkedHashMap<>();
    private long step;

    public AdamW(Backend backend, List<Parameter> params, float beta1, float beta2, float eps) {
        this.backend = backend;
        this.params = List.copyOf(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        for (Parameter p : this.params) {
            int[] shape = p.value.shape();
            moments.put(p, new Tensor[]{backend.zeros(DType.F32, shape), backend.zeros(DType.F32, shape)});
        }
    }

    /** Number of updates applied so far (the next update uses step + 1 for bias correction). */
    public long step() { return step; }

    /** Restores the step counter from a checkpoint. */
    public void setStep(long step) { this.step = step; }

    public List<Parameter> parameters() { return params; }

    public Tensor firstMoment(Parameter p) { return moments.get(p)[0]; }

    public Tensor secondMoment(Parameter p) { return moments.get(p)[1]; }

    /** Zeroes both moments and the step counter (a fresh optimizer, e.g. at a precision switch). */
    public void reset() {
        for (Tensor[] m : moments.values()) {
            backend.fill(m[0], 0f);
            backend.fill(m[1], 0f);
        }
        step = 0;
    }

    /** Global L2 norm of all gradients (accumulated in double). */
    public double gradNorm() {
        List<Tensor> grads = new ArrayList<>(params.size());
        for (Parameter p : params) grads.add(p.grad);
        return Math.sqrt(backend.sumOfSquaresAll(grads));
    }

    /**
     * Clipping factor for a global norm, as torch.nn.utils.clip_grad_norm_: maxNorm / (norm + 1e-6), capped at
     * 1; maxNorm ≤ 0 disables clipping.
     */
    public static float clipScale(double norm, double maxNorm) {
        if (maxNorm <= 0) return 1f;
        return (float) Math.min(1.0, maxNorm / (norm + 1e-6));
    }

    /**
     * One update of every parameter; gradients are multiplied by gradScale first. The two groups (with and
     * without weight decay) go to {@link Backend#adamwAll} as one call each, which a GPU does in one launch.
     */
    public void update(float lr, float weightDecay, float gradScale) {
        step++;
        for (boolean decay : new boolean[]{true, false}) {
            List<Tensor> values = new ArrayList<>(), grads = new ArrayList<>(), m1 = new ArrayList<>(), m2 = new ArrayList<>();
            for (Parameter p : params) {
                if (p.decay != decay) continue;
                Tensor[] m = moments.get(p);
                values.add(p.value);
                grads.add(p.grad);
                m1.add(m[0]);
                m2.add(m[1]);
            }
            if (!values.isEmpty())
                backend.adamwAll(values, grads, m1, m2, new AdamWParams(lr, beta1, beta2, eps, decay ? weightDecay : 0f, step, gradScale));
        }
    }

    public void zeroGrad() {
        backend.zeroAll(params.stream().map(p -> p.grad).toList());    // CUDA: one launch for all
    }

    /** Parameters whose names are listed, in order (checkpoint code). */
    public List<Parameter> named(List<String> names) {
        List<Parameter> out = new ArrayList<>();
        for (String n : names)
            for (Parameter p : params)
                if (p.name.equals(n)) out.add(p);
        return out;
    }

    @Override
    public void close() {
        for (Tensor[] m : moments.values()) {
            m[0].close();
            m[1].close();
        }
    }
}
