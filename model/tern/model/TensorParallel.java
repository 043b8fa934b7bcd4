package tern.model;

import tern.runtime.Backend;
import tern.runtime.GradientSync;
import tern.runtime.Parameter;
import tern.runtime.ParameterLayout;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;

/**
 * Spectra's (Megatron/GPT-NeoX's) tensor parallelism over {@code group}'s K ranks: each rank holds slice
 * {@code rank} of every block linear, q, k, v, gate and up by output rows (so heads/K whole heads and
 * intermediate/K SwiGLU channels per rank), o and down by input columns; the o and down products are summed
 * over the group in the forward, the inputs of q/k/v and gate/up have their gradients summed in the
 * backward. The embedding, norms and LM head are replicated: every rank computes the same values and
 * gradients for them. A ternary matrix with K·s shards has s shards per rank, so each slice keeps exactly
 * the absmean scales the whole matrix has ({@link LinearPolicy.Ternary}).
 *
 * <p>{@code group} is null for one rank (no tensor parallelism).
 */
public record TensorParallel(GradientSync group) implements ParameterLayout {
    public static final TensorParallel NONE = new TensorParallel(null);

    public int rank() { return group == null ? 0 : group.rank(); }

    public int ranks() { return group == null ? 1 : group.ranks(); }

    /** Refuses a shape or precision whose tensor-parallel run would not equal the single-rank one. */
    public void check(LlamaConfig config) { check(config, ranks()); }

    /**
     * As {@link #check(LlamaConfig)} for a degree {@code k} (the launcher checks before it starts a rank).
     * Every head has its own key and value head here, so dividing the heads divides the KV heads too.
     */
    public static void check(LlamaConfig config, int k) {
        if (k == 1) return;
        if (config.heads() % k != 0)
            throw new IllegalArgumentException("--tensor-parallel " + k + " needs the heads (" + config.heads() + ") divisible by " + k);
        if (config.intermediate() % k != 0)
            throw new IllegalArgumentException("--tensor-parallel " + k + " needs the intermediate size (" + config.intermediate() + ") divisible by " + k);
        Precision p = config.precision();
        if (p.activationBits() != 0 || p.kvBits() != 0)
            throw new IllegalArgumentException("--tensor-parallel " + k + " does not support activation or KV quantization (per-token"
                    + " scales would see only a rank's slice of each row); this precision has " + p.activationBits() + "-bit activations, "
                    + p.kvBits() + "-bit KV");
        if (p.weights() instanceof LinearPolicy.Ternary(int shards) && shards % k != 0)
            throw new IllegalArgumentException("--tensor-parallel " + k + " needs the ternary shards (" + shards + ") to be a multiple of " + k
                    + ": each rank's slice must hold whole absmean shards (start the run with --ternary-shards " + k
                    + ", one scale per slice as Spectra trained; a run resumes at any K that divides its shards)");
        if (!(p.weights() instanceof LinearPolicy.Float) && !(p.weights() instanceof LinearPolicy.Ternary))
            throw new IllegalArgumentException("--tensor-parallel " + k + " supports float and ternary weights, not " + p.weights().label()
                    + " (its per-tensor or per-row scales would need the whole matrix)");
    }

    /** The policy each rank's slices use: a ternary matrix's K·s shards become s per slice. */
    public LinearPolicy localPolicy(LinearPolicy whole) {
        if (whole instanceof LinearPolicy.Ternary(int shards) && ranks() > 1) return new LinearPolicy.Ternary(shards / ranks());
        return whole;
    }

    /** How tensor parallelism cuts the parameter named {@code hfName}: ROWS, COLS, or null when it is replicated. */
    public static ShardAxis axisOf(String hfName) { return LlamaModel.tensorParallelAxis(hfName); }

    /** Rows [r·n/K, (r+1)·n/K) of a row-major [rows, cols] matrix (axis ROWS), or those columns (COLS). */
    public static float[] slice(float[] whole, int rows, int cols, ShardAxis axis, int rank, int ranks) {
        if (axis == ShardAxis.ROWS) {
            int n = rows / ranks;
            float[] out = new float[n * cols];
            System.arraycopy(whole, rank * n * cols, out, 0, out.length);
            return out;
        }
        int n = cols / ranks;
        float[] out = new float[rows * n];
        for (int i = 0; i < rows; i++) System.arraycopy(whole, i * cols + rank * n, out, i * n, n);
        return out;
    }

    /** The inverse of {@link #slice}: writes {@code part} into its place in {@code whole}. */
    public static void place(float[] part, float[] whole, int rows, int cols, ShardAxis axis, int rank, int ranks) {
        if (axis == ShardAxis.ROWS) {
            System.arraycopy(part, 0, whole, rank * (rows / ranks) * cols, part.length);
            return;
        }
        int n = cols / ranks;
        for (int i = 0; i < rows; i++) System.arraycopy(part, i * n, whole, i * cols + rank * n, n);
    }

    /**
     * Copies this rank's slices of a whole (single-rank) model's weights into {@code local}, a model built
     * with this tensor parallelism; replicated weights are copied whole. {@code whole} maps each Hugging
     * Face name to its row-major values (a checkpoint's tensors, or a single-rank model's).
     */
    public void loadSlices(java.util.function.Function<String, float[]> whole, LlamaModel local) {
        Backend b = local.backend();
        for (Parameter p : local.parameters()) {
            float[] all = whole.apply(p.name);
            if (all == null) throw new IllegalArgumentException("no weight '" + p.name + "' to slice for tensor-parallel rank " + rank());
            float[] mine = all;
            ShardAxis axis = axisOf(p.name);
            if (axis != null && ranks() > 1) {
                int rows = p.value.dim(0), cols = p.value.dim(1);
                int wholeRows = axis == ShardAxis.ROWS ? rows * ranks() : rows, wholeCols = axis == ShardAxis.COLS ? cols * ranks() : cols;
                if (all.length != (long) wholeRows * wholeCols)
                    throw new IllegalArgumentException("'" + p.name + "' has " + all.length + " values, expected " + wholeRows + "×" + wholeCols);
                mine = slice(all, wholeRows, wholeCols, axis, rank(), ranks());
            }
            if (mine.length != p.value.size())
                throw new IllegalArgumentException("'" + p.name + "' has " + mine.length + " values, expected " + p.value.size());
            try (Tensor t = b.upload(mine, p.value.shape())) {
                b.copy(t, p.value);
            }
        }
    }

    /** The whole matrix's shape: a sliced parameter's rows (ROWS) or columns (COLS) times the ranks. */
    @Override
    public int[] wholeShape(Parameter p) {
        int[] shape = p.value.shape();
        ShardAxis axis = axisOf(p.name);
        if (axis != null && ranks() > 1) shape[axis == ShardAxis.ROWS ? 0 : 1] *= ranks();
        return shape;
    }

    /** This rank's slice of a whole host tensor (a checkpoint's weight or moment); replicated ones whole. */
    @Override
    public Tensor part(Parameter p, Tensor whole) {
        ShardAxis axis = axisOf(p.name);
        if (axis == null || ranks() == 1) return whole;
        int[] w = wholeShape(p);
        return Tensor.of(slice(whole.toFloatArray(), w[0], w[1], axis, rank(), ranks()), p.value.shape());
    }

    /**
     * {@code local} (this rank's value of {@code p}, or a tensor shaped as it: a moment) as the whole model
     * has it, on every rank of the group: the slice is placed into a zeroed whole matrix on the device and
     * the matrices are summed over the group, which adds only zeros to each value and so is exact. One
     * parameter at a time, so a checkpoint needs one whole matrix of device memory, not the whole model.
     * A replicated parameter is this rank's own. Every rank of the group calls it, in the same order.
     */
    public float[] gatherWhole(Backend b, Parameter p, Tensor local) {
        float[] mine = local.device() == tern.runtime.Device.CPU ? local.toFloatArray() : b.download(local);
        ShardAxis axis = axisOf(p.name);
        if (axis == null || ranks() == 1) return mine;
        if (local.size() != p.value.size()) throw new IllegalArgumentException(local.describe() + " is not shaped as " + p.name + " " + p.value.describe());
        int[] w = wholeShape(p);
        float[] whole = new float[w[0] * w[1]];
        place(mine, whole, w[0], w[1], axis, rank(), ranks());
        try (Tensor t = b.upload(whole, w[0], w[1])) {
            group.sumInPlace(java.util.List.of(t));
            return b.download(t);
        }
    }

    /**
     * Every parameter of {@code local} as the whole model has it, on every rank (what a checkpoint holds):
     * each slice is placed into a zeroed whole matrix and the matrices are summed over the group, which
     * adds only zeros to each value and so is exact. Replicated parameters are this rank's own.
     */
    public java.util.Map<String, float[]> gatherWeights(LlamaModel local) {
        java.util.Map<String, float[]> out = new java.util.LinkedHashMap<>();
        for (Parameter p : local.parameters()) out.put(p.name, gatherWhole(local.backend(), p, p.value));
        return out;
    }
}
