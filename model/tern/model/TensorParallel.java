package tern.model;

import tern.runtime.Backend;
import tern.runtime.GradientSync;
import tern.runtime.Parameter;
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
public record TensorParallel(GradientSync group) {
    public static final TensorParallel NONE = new TensorParallel(null);

    public int rank() { return group == null ? 0 : group.rank(); }

    public int ranks() { return group == null ? 1 : group.ranks(); }

    /** Refuses a shape or precision whose tensor-parallel run would not equal the single-rank one. */
    public void check(LlamaConfig config) {
        int k = ranks();
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
                    + ": each rank's slice must hold whole absmean shards (set shards = " + k + " as Spectra does)");
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

    /**
     * Every parameter of {@code local} as the whole model has it, on every rank (what a checkpoint holds):
     * each slice is placed into a zeroed whole matrix and the matrices are summed over the group, which
     * adds only zeros to each value and so is exact. Replicated parameters are this rank's own.
     */
    public java.util.Map<String, float[]> gatherWeights(LlamaModel local) {
        Backend b = local.backend();
        java.util.Map<String, float[]> out = new java.util.LinkedHashMap<>();
        java.util.List<Tensor> wholes = new java.util.ArrayList<>();
        java.util.List<String> names = new java.util.ArrayList<>();
        try {
            for (Parameter p : local.parameters()) {
                float[] mine = b.download(p.value);
                ShardAxis axis = axisOf(p.name);
                if (axis == null || ranks() == 1) {
                    out.put(p.name, mine);
                    continue;
                }
                int rows = p.value.dim(0) * (axis == ShardAxis.ROWS ? ranks() : 1), cols = p.value.dim(1) * (axis == ShardAxis.COLS ? ranks() : 1);
                float[] whole = new float[rows * cols];
                place(mine, whole, rows, cols, axis, rank(), ranks());
                wholes.add(b.upload(whole, rows, cols));
                names.add(p.name);
                out.put(p.name, null);                // keeps the parameters' order
            }
            if (!wholes.isEmpty()) group.sumInPlace(wholes);
            for (int i = 0; i < wholes.size(); i++) out.put(names.get(i), b.download(wholes.get(i)));
        } finally {
            for (Tensor t : wholes) t.close();
        }
        return out;
    }
}
