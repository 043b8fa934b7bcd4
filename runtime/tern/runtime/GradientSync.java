package tern.runtime;

import java.util.List;

/**
 * How the ranks of a data-parallel job combine each step's work: every rank computes the gradients of its
 * share of the step's micro-batches, then the sums over all ranks replace them, so every rank holds the
 * gradient of the whole global batch and takes the same optimizer step. A run of one process has none.
 */
public interface GradientSync extends AutoCloseable {
    /** This process's rank, 0 ≤ rank &lt; ranks. */
    int rank();

    int ranks();

    /**
     * Replaces each tensor by its sum over the ranks (elementwise, in place). Compute issued after the call
     * sees the sums; the call itself need not wait for them on the host.
     */
    void sumInPlace(List<Tensor> tensors);

    /** The sum over the ranks of a host value (the step's loss), waiting for every rank. */
    double sum(double value);

    @Override default void close() {}
}
