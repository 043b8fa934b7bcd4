package tern.train;

import java.util.ArrayList;
import java.util.List;

import tern.runtime.Backend;
import tern.runtime.GradientSync;
import tern.runtime.Optimizer;
import tern.runtime.Tensor;

/**
 * {@link GradientSync} for ranks in separate processes without NCCL (CPU ranks, {@code tern train --ranks N}):
 * tensors are copied to the host and combined through a {@link TcpGroup}, sums added in rank order. The
 * same interface as NCCL's, so the trainer, the sharded optimizer and the launcher are tested on a machine
 * without GPUs; the arithmetic is that of one process up to the grouping of the sums.
 */
public final class TcpGradientSync implements GradientSync {
    private final TcpGroup group;
    private final Backend backend;

    public TcpGradientSync(TcpGroup group, Backend backend) {
        this.group = group;
        this.backend = backend;
    }

    @Override public int rank() { return group.rank(); }

    @Override public int ranks() { return group.ranks(); }

    private float[][] download(List<Tensor> tensors) {
        float[][] a = new float[tensors.size()][];
        for (int i = 0; i < a.length; i++) a[i] = backend.download(tensors.get(i));
        return a;
    }

    @Override
    public void sumInPlace(List<Tensor> tensors) {
        float[][] s = group.sum(download(tensors), TcpGroup.Wanted.ALL);
        for (int i = 0; i < s.length; i++) write(s[i], tensors.get(i), 0, s[i].length);
    }

    @Override
    public double sum(double value) {
        // two floats carry the double exactly enough for the loss and the squared gradient norm
        float hi = (float) value, lo = Double.isFinite(value) ? (float) (value - hi) : 0f;
        float lo2 = Double.isFinite(value) ? (float) (value - hi - lo) : 0f;
        float[] s = group.sum(new float[][] {{hi, lo, lo2}}, TcpGroup.Wanted.ALL)[0];
        return ((double) s[0] + s[1]) + s[2];
    }

    @Override
    public void reduceScatterInPlace(List<Tensor> tensors) {
        int n = ranks();
        float[][] s = group.sum(download(tensors), (r, i, len) -> {
            List<long[]> parts = new ArrayList<>(2);
            long k = GradientSync.shardLength(len, n);
            if (k > 0) parts.add(new long[] {GradientSync.shardStart(len, n, r), GradientSync.shardStart(len, n, r) + k});
            if (GradientSync.tailStart(len, n) < len) parts.add(new long[] {GradientSync.tailStart(len, n), len});
            return parts;
        });
        for (int i = 0; i < s.length; i++) {
            int len = s[i].length, from = (int) GradientSync.shardStart(len, n, rank()), k = (int) GradientSync.shardLength(len, n);
            write(s[i], tensors.get(i), from, from + k);
            write(s[i], tensors.get(i), (int) GradientSync.tailStart(len, n), len);
        }
    }

    @Override
    public void allGatherInPlace(List<Tensor> tensors) {
        int n = ranks();
        float[][] mine = new float[tensors.size()][];
        for (int i = 0; i < mine.length; i++) {
            Tensor t = tensors.get(i);
            int len = (int) t.size(), from = (int) GradientSync.shardStart(len, n, rank()), k = (int) GradientSync.shardLength(len, n);
            mine[i] = backend.download(t.reshape(len).slice(from, from + k));
        }
        float[][][] all = group.allGather(mine);
        for (int r = 0; r < n; r++) {
            if (r == rank()) continue;
            for (int i = 0; i < mine.length; i++) {
                int len = (int) tensors.get(i).size(), from = (int) GradientSync.shardStart(len, n, r);
                float[] part = all[r][i];
                put(part, tensors.get(i), from);
            }
        }
    }

    /** t[from, to) ← values[from, to). */
    private void write(float[] values, Tensor t, int from, int to) {
        if (to > from) put(java.util.Arrays.copyOfRange(values, from, to), t, from);
    }

    /** t[at, at + part.length) ← part. */
    private void put(float[] part, Tensor t, int at) {
        if (part.length == 0) return;
        try (Tensor host = Tensor.of(part, part.length)) {
            Optimizer.copyFromHost(backend, host, t.reshape((int) t.size()).slice(at, at + part.length));
        }
    }

    /** Ranks of a sub-group wait this long for the others to join it (they all come straight from the split). */
    static final long SPLIT_MILLIS = 120_000;
    private int splits;                                  // tags each split's groups, so two splits never meet

    /** A sub-group over TCP sockets of its own ({@link TcpGroup#split}). */
    @Override
    public GradientSync split(int color, int key) {
        try {
            return new TcpGradientSync(group.split(color, key, "split" + splits++, SPLIT_MILLIS), backend);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("rank " + rank() + " of " + ranks() + ": forming the sub-group of color " + color
                    + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        group.close();
    }
}
