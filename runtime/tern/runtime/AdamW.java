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
public final class AdamW implements Optimizer {
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

    @Override public long step() { return step; }

    @Override public void setStep(long step) { this.step = step; }

    @Override public List<Parameter> parameters() { return params; }

    @Override public float beta1() { return beta1; }

    @Override public float beta2() { return beta2; }

    @Override public float eps() { return eps; }

    /** Every rank needs the whole sum: each holds all of the moments. */
    @Override
    public void combineGradients(GradientSync sync) {
        if (sync != null) sync.sumInPlace(params.stream().map(p -> p.grad).toList());
    }

    @Override
    public FullMoments fullMoments() {
        Map<Parameter, Tensor[]> out = new LinkedHashMap<>();
        for (Parameter p : params) out.put(p, moments.get(p));
        return new FullMoments(out, false);
    }

    @Override
    public void loadMoments(Parameter p, Tensor first, Tensor second) {
        Tensor[] m = moments.get(p);
        if (m == null) throw new IllegalArgumentException(p.name + " is not one of this optimizer's parameters");
        Optimizer.copyFromHost(backend, first, m[0]);
        Optimizer.copyFromHost(backend, second, m[1]);
    }

    public Tensor firstMoment(Parameter p) { return moments.get(p)[0]; }

    public Tensor secondMoment(Parameter p) { return moments.get(p)[1]; }

    @Override
    public void reset() {
        for (Tensor[] m : moments.values()) {
            backend.fill(m[0], 0f);
            backend.fill(m[1], 0f);
        }
        step = 0;
    }

    /** Sum of squares of the chosen gradients (accumulated in double). */
    @Override
    public double gradSquares(java.util.function.Predicate<Parameter> include) {
        List<Tensor> grads = new ArrayList<>(params.size());
        for (Parameter p : params) if (include.test(p)) grads.add(p.grad);
        return grads.isEmpty() ? 0 : backend.sumOfSquaresAll(grads);
    }

    /** Math.sqrt of the same sum {@link #gradSquares} of every parameter gives, read later. */
    @Override
    public java.util.function.DoubleSupplier gradNormLater() {
        List<Tensor> grads = new ArrayList<>(params.size());
        for (Parameter p : params) grads.add(p.grad);
        if (grads.isEmpty()) return () -> 0;
        java.util.function.DoubleSupplier sum = backend.sumOfSquaresAllLater(grads);
        return () -> Math.sqrt(sum.getAsDouble());
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
    @Override
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

    @Override
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
