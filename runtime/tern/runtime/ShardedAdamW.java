package tern.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW with its state sharded across the ranks of a data-parallel job (ZeRO stage 1). Each parameter of n
 * elements splits as {@link GradientSync} defines: rank r owns the slice [r·k, r·k + k), k = n / ranks, and
 * every rank also owns the tail of fewer than {@code ranks} elements past them. A rank keeps AdamW's two
 * moments for what it owns only, so the optimizer state of each rank is 1/ranks of {@link AdamW}'s.
 *
 * <p>A step: the gradients are reduce-scattered in place (this rank's slice of each gradient tensor becomes
 * the sum over ranks; no staging buffer), the global norm is the sum over ranks of the squared slices (the
 * tails counted once, by rank 0), each rank updates its slice of the f32 weights with the same update rule
 * as {@link AdamW} element for element, and the updated slices are all-gathered in place into every rank's
 * weights. Gradient accumulation over micro-batches adds into the same full-size gradient tensors as
 * without sharding, so it needs no memory of its own.
 *
 * <p>The f32 master weights are the parameters themselves: the forward reads them, so every rank holds
 * them whole, and only the update of each slice is done once instead of on every rank.
 */
public final class ShardedAdamW implements Optimizer {
    public final float beta1, beta2, eps;
    private final Backend backend;
    private final GradientSync sync;
    private final List<Parameter> params;
    private final Map<Parameter, Owned> owned = new LinkedHashMap<>();
    private long step;

    /** The parts of one parameter this rank owns (its slice, the tail), as flat views, with their moments. */
    private record Piece(long from, Tensor value, Tensor grad, Tensor m, Tensor v) {}

    private record Owned(List<Piece> pieces) {}

    public ShardedAdamW(Backend backend, List<Parameter> params, GradientSync sync, float beta1, float beta2, float eps) {
        this.backend = backend;
        this.sync = sync;
        this.params = List.copyOf(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        int ranks = sync.ranks(), rank = sync.rank();
        for (Parameter p : this.params) {
            long n = p.size();
            if (n > Integer.MAX_VALUE) throw new IllegalArgumentException(p.name + " has more than 2^31 elements");
            List<Piece> pieces = new ArrayList<>(2);
            long from = GradientSync.shardStart(n, ranks, rank), k = GradientSync.shardLength(n, ranks), tail = GradientSync.tailStart(n, ranks);
            if (k > 0) pieces.add(piece(p, from, from + k));
            if (tail < n) pieces.add(piece(p, tail, n));
            owned.put(p, new Owned(pieces));
        }
    }

    private Piece piece(Parameter p, long from, long to) {
        int n = (int) p.size(), a = (int) from, b = (int) to;
        return new Piece(from, p.value.reshape(n).slice(a, b), p.grad.reshape(n).slice(a, b),
                backend.zeros(DType.F32, b - a), backend.zeros(DType.F32, b - a));
    }

    /** Elements of moment state this rank holds (each of m and v). */
    public long stateElements() {
        long s = 0;
        for (Owned o : owned.values()) for (Piece q : o.pieces) s += q.m.size();
        return s;
    }

    @Override public List<Parameter> parameters() { return params; }
    @Override public long step() { return step; }
    @Override public void setStep(long step) { this.step = step; }
    @Override public float beta1() { return beta1; }
    @Override public float beta2() { return beta2; }
    @Override public float eps() { return eps; }

    @Override
    public void reset() {
        for (Owned o : owned.values())
            for (Piece q : o.pieces) {
                backend.fill(q.m, 0f);
                backend.fill(q.v, 0f);
            }
        step = 0;
    }

    @Override
    public void zeroGrad() {
        for (Parameter p : params) p.zeroGrad(backend);
    }

    @Override
    public void combineGradients(GradientSync given) {
        if (given != sync) throw new IllegalArgumentException("a sharded optimizer combines gradients over the ranks it was made with");
        sync.reduceScatterInPlace(params.stream().map(p -> p.grad).toList());
    }

    /** The squares of this rank's slices, plus (rank 0 only) the tails every rank holds, summed over ranks. */
    @Override
    public double gradSquares(java.util.function.Predicate<Parameter> include) {
        List<Tensor> mine = new ArrayList<>();
        for (Parameter p : params)
            if (include.test(p))
                for (Piece q : owned.get(p).pieces)
                    if (isSlice(p, q) || sync.rank() == 0) mine.add(q.grad);
        return sync.sum(mine.isEmpty() ? 0 : backend.sumOfSquaresAll(mine));
    }

    private boolean isSlice(Parameter p, Piece q) {
        return q.from < GradientSync.tailStart(p.size(), sync.ranks());
    }

    @Override
    public void update(float lr, float weightDecay, float gradScale) {
        step++;
        for (boolean decay : new boolean[] {true, false}) {
            List<Tensor> values = new ArrayList<>(), grads = new ArrayList<>(), m1 = new ArrayList<>(), m2 = new ArrayList<>();
            for (Parameter p : params) {
                if (p.decay != decay) continue;
                for (Piece q : owned.get(p).pieces) {
                    values.add(q.value);
                    grads.add(q.grad);
                    m1.add(q.m);
                    m2.add(q.v);
                }
            }
            if (!values.isEmpty())
                backend.adamwAll(values, grads, m1, m2, new AdamWParams(lr, beta1, beta2, eps, decay ? weightDecay : 0f, step, gradScale));
        }
        sync.allGatherInPlace(params.stream().map(p -> p.value).toList());
    }

    /** Gathers each moment into a full-size tensor, one parameter at a time, and keeps it on the host. */
    @Override
    public FullMoments fullMoments() {
        Map<Parameter, Tensor[]> out = new LinkedHashMap<>();
        try {
            for (Parameter p : params) {
                Tensor[] pair = new Tensor[2];
                for (int which = 0; which < 2; which++) {
                    try (Tensor full = backend.zeros(DType.F32, p.value.shape())) {
                        Tensor flat = full.reshape((int) p.size());
                        for (Piece q : owned.get(p).pieces) {
                            int a = (int) q.from;
                            backend.copy(which == 0 ? q.m : q.v, flat.slice(a, a + (int) q.m.size()));
                        }
                        sync.allGatherInPlace(List.of(full));
                        pair[which] = Tensor.of(backend.download(full), p.value.shape());
                    }
                }
                out.put(p, pair);
            }
        } catch (RuntimeException e) {
            new FullMoments(out, true).close();
            throw e;
        }
        return new FullMoments(out, true);
    }

    @Override
    public void loadMoments(Parameter p, Tensor first, Tensor second) {
        Owned o = owned.get(p);
        if (o == null) throw new IllegalArgumentException(p.name + " is not one of this optimizer's parameters");
        int n = (int) p.size();
        for (Piece q : o.pieces) {
            int a = (int) q.from, b = a + (int) q.m.size();
            Optimizer.copyFromHost(backend, first.reshape(n).slice(a, b), q.m);
            Optimizer.copyFromHost(backend, second.reshape(n).slice(a, b), q.v);
        }
    }

    @Override
    public void close() {
        for (Owned o : owned.values())
            for (Piece q : o.pieces) {
                q.m.close();
                q.v.close();
            }
    }
}
