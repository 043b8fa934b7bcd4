package tern.runtime;

/**
 * A value recorded on a {@link Tape}: the forward tensor and, after the backward pass, its gradient.
 * A parameter's Var accumulates straight into the parameter's persistent gradient; an activation's
 * gradient is created on first use by the tape and freed once the backward step of the op that made this
 * Var has consumed it (so after {@link Tape#backward} only leaves' gradients remain: inputs, parameters).
 */
public final class Var {
    public final Tensor value;
    final Parameter parameter;     // non-null for parameters
    final boolean requiresGrad;
    Tensor grad;                   // activation gradient, owned by the tape

    Var(Tensor value, Parameter parameter, boolean requiresGrad) {
        this.value = value;
        this.parameter = parameter;
        this.requiresGrad = requiresGrad;
    }

    /** The gradient: a leaf's after {@link Tape#backward}; null if nothing flowed here or it was consumed. */
    public Tensor grad() {
        return parameter != null ? parameter.grad : grad;
    }

    public int rows() { return value.rows(); }
    public int cols() { return value.cols(); }

    @Override public String toString() { return (parameter != null ? parameter.name + " " : "") + value.describe(); }
}
