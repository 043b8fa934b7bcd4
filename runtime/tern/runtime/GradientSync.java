package tern.runtime;

import java.util.List;

/**
 * How the ranks of a data-parallel job combine each step's work: every rank computes the gradients of its
 * share of the step's micro-batches, then the sums over all ranks replace them, so every rank holds the
 * gradient of the whole global batch and takes the same optimizer step. A run of one process has none.
 *
 * <p>A sharded optimizer (ZeRO-1, {@link ShardedAdamW}) needs only its own slice of each sum and gives its
 * updated slice to the others: {@link #reduceScatterInPlace} and {@link #allGatherInPlace}, over the slices
 * {@link #shardLength} and {@link #shardStart} define. A tensor of n elements splits into {@code ranks}
 * slices of k = n / ranks elements (rank r owns [r·k, r·k + k)) and a tail [ranks·k, n) of fewer than
 * {@code ranks} elements that every rank holds and updates alike: so no tensor needs padding or a copy.
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

    /**
     * For each tensor: this rank's slice and the tail become their sums over the ranks, in place; the other
     * ranks' slices are left undefined (they hold partial sums or anything else).
     */
    void reduceScatterInPlace(List<Tensor> tensors);

    /**
     * For each tensor: every rank's slice is copied into the same place on every rank, in place; the tail
     * is left as it is (every rank holds the same tail).
     */
    void allGatherInPlace(List<Tensor> tensors);

    /** Elements in each rank's slice of a tensor of {@code n} elements. */
    static long shardLength(long n, int ranks) { return n / ranks; }

    /** Where rank {@code rank}'s slice starts. */
    static long shardStart(long n, int ranks, int rank) { return rank * shardLength(n, ranks); }

    /** Where the tail every rank holds starts. */
    static long tailStart(long n, int ranks) { return ranks * shardLength(n, ranks); }

    /**
     * The transport's asynchronous error, 0 while healthy (NCCL's, after a peer failed), polled by each
     * rank's watchdog so that a failure ends the rank instead of hanging it.
     */
    default int asyncError() { return 0; }

    /**
     * Sub-groups of this group, as NCCL's ncclCommSplit makes them: the ranks that pass the same
     * {@code color} form one new group, ranked by {@code key} (ties by their rank here). Every rank of this
     * group calls it, in the same order as its other collectives; the new group's collectives involve its
     * own ranks only. Tensor parallelism runs its all-reduces on one such group (the K ranks of a model
     * replica) and data parallelism its gradient sums on another (the ranks holding the same slices).
     */
    default GradientSync split(int color, int key) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot form sub-groups");
    }

    @Override default void close() {}
}
