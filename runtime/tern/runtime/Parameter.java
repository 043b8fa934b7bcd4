package tern.runtime;

/**
 * A trainable tensor with its persistent gradient. {@code decay} says whether AdamW's weight decay applies
 * (matrices yes; norms, and by the usual convention embeddings too unless a preset says otherwise).
 * Gradients accumulate across micro-batches until {@link #zeroGrad}.
 */
public final class Parameter implements AutoCloseable {
    public final String name;
    public final Tensor value;
    public final Tensor grad;
    public final boolean decay;

    public Parameter(String name, Tensor value, Tensor grad, boolean decay) {
        if (value.size() != grad.size())
            throw new IllegalArgumentException("gradient of " + name + " has " + grad.size() + " elements, value " + value.size());
        this.name = name;
        this.value = value;
        this.grad = grad;
        this.decay = decay;
    }

    /** A zero-initialised parameter of the given shape on the backend's device. */
    public static Parameter create(Backend backend, String name, boolean decay, int... shape) {
        return new Parameter(name, backend.zeros(DType.F32, shape), backend.zeros(DType.F32, shape), decay);
    }

    public void zeroGrad(Backend backend) { backend.fill(grad, 0f); }

    public long size() { return value.size(); }

    @Override public String toString() { return name + " " + value.describe(); }

    @Override
    public void close() {
        value.close();
        grad.close();
    }
}
