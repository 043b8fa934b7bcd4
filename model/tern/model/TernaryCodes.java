package tern.model;

import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.simd.TernaryMatmul;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A ternary matrix as a packer stores it: trits T ∈ {−1, 0, 1} (row-major, one byte each) and one scale γ
 * per shard along {@code axis}; the weights it stands for are γ·T. Made by Tern's own quantizer from float
 * latent weights ({@link #quantize}), or recognized in dense weights that already are γ·T ({@link #recognize}),
 * as Spectra's "Unpacked" f16 releases and GGUF's TQ1_0/TQ2_0 tensors hold them.
 */
public record TernaryCodes(int rows, int cols, ShardAxis axis, float[] gamma, byte[] trits) {

    public int shards() { return gamma.length; }

    /** The shard of weight (r, c): equal cuts of the rows or of the columns. */
    public int shardOf(int r, int c) {
        return axis == ShardAxis.ROWS ? r / (rows / gamma.length) : c / (cols / gamma.length);
    }

    /** Tern's quantizer (as training's forward pass and tern pack apply it): γ = ε + mean|W| per shard, T = clamp(rint(W/γ)). */
    public static TernaryCodes quantize(Tensor w, int shards, ShardAxis axis) {
        float[] gamma = TernaryMatmul.scales(w, shards, axis, Linear.TERNARY_EPS);
        return new TernaryCodes(w.dim(0), w.dim(1), axis, gamma, TernaryMatmul.trits(w, gamma, axis));
    }

    /**
     * The codes of dense weights that are exactly γ·T with one γ per shard (every nonzero weight of a shard
     * has the same magnitude; a shard of zeros gets γ = 0), or null when they are not.
     */
    public static TernaryCodes recognize(float[] w, int rows, int cols, int shards, ShardAxis axis) {
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        if (shards < 1 || extent % shards != 0) return null;
        float[] gamma = new float[shards];
        byte[] trits = new byte[Math.multiplyExact(rows, cols)];
        int cut = extent / shards;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float v = w[r * cols + c];
                if (v == 0) continue;
                int s = axis == ShardAxis.ROWS ? r / cut : c / cut;
                float mag = Math.abs(v);
                if (gamma[s] == 0) gamma[s] = mag;
                else if (gamma[s] != mag || !Float.isFinite(mag)) return null;
                trits[r * cols + c] = (byte) (v > 0 ? 1 : -1);
            }
        }
        return new TernaryCodes(rows, cols, axis, gamma, trits);
    }

    /** The dense weights γ·T, row-major. */
    public float[] dense() {
        float[] out = new float[trits.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) out[r * cols + c] = trits[r * cols + c] * gamma[shardOf(r, c)];
        return out;
    }

    /** Every block linear of a model recognized as ternary with one shard count, or the reason it is not. */
    public record ModelCodes(int shards, Map<tern.runtime.Parameter, TernaryCodes> byWeight, String refusal) {
        public boolean ternary() { return refusal == null; }
    }

    /**
     * Recognizes every block linear of {@code model} (host weights) as γ·T with the same number of shards,
     * trying the config's model-parallel size first, then 1, 2, 3, ... up to 64 (the cuts that divide both
     * widths); the fewest shards that fit every matrix win.
     */
    public static ModelCodes recognize(LlamaModel model) {
        LlamaConfig c = model.config();
        List<Integer> candidates = new ArrayList<>();
        candidates.add(c.modelParallel());
        for (int s = 1; s <= 64; s++) if (!candidates.contains(s) && c.hidden() % s == 0 && c.intermediate() % s == 0) candidates.add(s);
        Map<Linear, float[]> values = new IdentityHashMap<>();
        for (Linear l : model.blockLinears()) values.put(l, l.weight().value.segment().toArray(ValueLayout.JAVA_FLOAT));
        String first = null;
        for (int shards : candidates) {
            Map<tern.runtime.Parameter, TernaryCodes> codes = new IdentityHashMap<>();
            String failed = null;
            for (Linear l : model.blockLinears()) {
                TernaryCodes t = recognize(values.get(l), l.outFeatures(), l.inFeatures(), shards, l.shardAxis());
                if (t == null) { failed = l.weight().name; break; }
                codes.put(l.weight(), t);
            }
            if (failed == null) return new ModelCodes(shards, codes, null);
            if (first == null) first = failed + " is not ±γ/0 with one γ per shard (tried " + shards + " shard" + (shards == 1 ? "" : "s") + ")";
        }
        return new ModelCodes(0, Map.of(), first);
    }
}
