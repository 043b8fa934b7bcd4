package tern.train;

import java.util.ArrayList;
import java.util.List;
import tern.runtime.GradientSync;

/**
 * A rank's place in a job of N = D × K ranks: K-way tensor parallelism (Spectra's Figure 4) inside each of D
 * data-parallel replicas. World rank r is tensor-parallel rank r mod K of replica r / K, so the K ranks of a
 * replica are neighbours (on one host they share NVLink). Three groups, each a {@link GradientSync}:
 * <ul>
 *   <li>{@code world}: all N ranks; the agreed stop and the agreed checkpoint to resume from;</li>
 *   <li>{@code tensor}: the K ranks of this replica (null when K = 1); the model's all-reduces;</li>
 *   <li>{@code data}: the D ranks holding the same slices (null when D = 1); the gradient sums, ZeRO-1.</li>
 * </ul>
 * The sub-groups come from {@link GradientSync#split}, so over NCCL they are ncclCommSplit's communicators
 * and over TCP groups of their own; with K = 1 the data group is the world itself.
 */
public record RankGrid(GradientSync world, GradientSync data, GradientSync tensor) implements AutoCloseable {

    /** Data parallelism alone over {@code world} (K = 1). */
    public static RankGrid dataParallel(GradientSync world) { return new RankGrid(world, world, null); }

    /**
     * Splits {@code world} into tensor-parallel groups of {@code k} neighbouring ranks and data-parallel groups
     * across them; every rank of the world calls it.
     */
    public static RankGrid of(GradientSync world, int k) {
        check(world.ranks(), k);
        if (k == 1) return dataParallel(world);
        int r = world.rank(), replicas = world.ranks() / k;
        GradientSync tensor = world.split(r / k, r % k);
        GradientSync data = null;
        try {
            if (replicas > 1) data = world.split(r % k, r / k);
        } catch (RuntimeException e) {
            tensor.close();
            throw e;
        }
        return new RankGrid(world, data, tensor);
    }

    /** Refuses a tensor-parallel degree that does not split the ranks evenly. */
    public static void check(int ranks, int k) {
        if (k < 1) throw new IllegalArgumentException("--tensor-parallel must be at least 1, got " + k);
        if (ranks % k != 0)
            throw new IllegalArgumentException("--tensor-parallel " + k + " must divide the number of ranks (" + ranks
                    + "): each data-parallel replica is " + k + " ranks");
    }

    /** K, the ranks of one model replica. */
    public int tensorRanks() { return tensor == null ? 1 : tensor.ranks(); }

    public int tensorRank() { return tensor == null ? 0 : tensor.rank(); }

    /** D, the replicas. */
    public int dataRanks() { return data == null ? 1 : data.ranks(); }

    public int dataRank() { return data == null ? 0 : data.rank(); }

    /** The first asynchronous error of any of the groups (0 while healthy), for the watchdog. */
    public int asyncError() {
        for (GradientSync g : groups()) {
            int e = g.asyncError();
            if (e != 0) return e;
        }
        return 0;
    }

    private List<GradientSync> groups() {
        List<GradientSync> out = new ArrayList<>(3);
        if (tensor != null) out.add(tensor);
        if (data != null && data != world) out.add(data);
        out.add(world);
        return out;
    }

    /** Closes the sub-groups, then the world. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (GradientSync g : groups()) {
            try {
                g.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
