package tern.runtime;

/**
 * How the parameters a rank trains relate to the whole model's tensors, which is what a checkpoint holds
 * whoever wrote it: the identity for a whole model ({@link #WHOLE}); under tensor parallelism each rank
 * holds a slice of every block linear (tern.model.TensorParallel). Loading a checkpoint validates each
 * tensor against {@link #wholeShape} and keeps {@link #part} of it, weights and AdamW moments alike, so a
 * run saved at one tensor-parallel degree resumes at another.
 */
public interface ParameterLayout {
    /** The shape of {@code p} in the whole model. */
    int[] wholeShape(Parameter p);

    /**
     * This rank's part of {@code whole} (a host f32 tensor of {@link #wholeShape}{@code (p)}), shaped as
     * {@code p}: {@code whole} itself when the rank holds all of it, else a new host tensor the caller closes.
     */
    Tensor part(Parameter p, Tensor whole);

    /** Every rank holds every parameter whole. */
    ParameterLayout WHOLE = new ParameterLayout() {
        @Override public int[] wholeShape(Parameter p) { return p.value.shape(); }
        @Override public Tensor part(Parameter p, Tensor whole) { return whole; }
    };
}
