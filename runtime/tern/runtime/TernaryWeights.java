package tern.runtime;

/**
 * A ternary matrix W ≈ γ·T of logical shape [rows = out, cols = in], T ∈ {-1,0,+1}, kept in the form the
 * backend's ternary kernels read ({@code packed}, backend-specific layout) together with its scales.
 * {@code scales[s]} belongs to shard s of {@code shards} equal cuts along {@code axis}.
 */
public record TernaryWeights(Tensor packed, int rows, int cols, float[] scales, ShardAxis axis) implements AutoCloseable {
    public int shards() { return scales.length; }

    /** The shard that row r (axis ROWS) or column c (axis COLS) belongs to. */
    public int shardOf(int index) {
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        return (int) ((long) index * scales.length / extent);
    }

    @Override public void close() { packed.close(); }
}
