package tern.model;

import tern.runtime.Tape;
import tern.runtime.Tensor;

import java.util.List;

/**
 * Every block linear's weight as one forward pass uses it (see {@link Linear#prepare}): quantized and packed
 * once, then applied to every row of the batch. On a tape the tape owns what was allocated (the backward
 * pass of a ternary linear reads the packed weights); a {@link Generator} keeps its own for its lifetime, and
 * so may any caller of {@link LlamaModel#decode} outside this package (e.g. prefix-cached scoring).
 */
public final class PreparedWeights implements AutoCloseable {
    private final Linear.Prepared[][] perLayer;

    private PreparedWeights(Linear.Prepared[][] perLayer) { this.perLayer = perLayer; }

    /** Prepared for the model's current precision and weights; the caller closes it. */
    public static PreparedWeights of(LlamaModel model) {
        return of(model, tern.runtime.DType.F32);
    }

    /** Prepared for products that read {@code operand}-typed weights ({@link Linear#prepare(tern.runtime.Backend, LinearPolicy, float, tern.runtime.DType)}). */
    static PreparedWeights of(LlamaModel model, tern.runtime.DType operand) {
        List<LlamaModel.Layer> layers = model.layers();
        Precision p = model.precision();
        Linear.Prepared[][] all = new Linear.Prepared[layers.size()][];
        if (operand != tern.runtime.DType.F32) {           // every block linear in one batch: a few launches in all
            List<Linear> every = new java.util.ArrayList<>();
            for (LlamaModel.Layer l : layers) every.addAll(List.of(l.linears()));
            Linear.Prepared[] flat = Linear.prepareAll(model.backend(), every, model.localPolicy(), p.phaseIn(), operand);
            for (int i = 0, k = 0; i < layers.size(); i++) {
                all[i] = new Linear.Prepared[layers.get(i).linears().length];
                for (int j = 0; j < all[i].length; j++) all[i][j] = flat[k++];
            }
            return new PreparedWeights(all);
        }
        for (int i = 0; i < layers.size(); i++) {
            Linear[] linears = layers.get(i).linears();
            all[i] = new Linear.Prepared[linears.length];
            for (int j = 0; j < linears.length; j++)
                all[i][j] = linears[j].prepare(model.backend(), model.localPolicy(), p.phaseIn());
        }
        return new PreparedWeights(all);
    }

    /**
     * Prepared and handed to the tape, which frees the copies when it closes; a recording tape with 16-bit
     * activations gets the weights in its type (one conversion per step instead of one per product).
     */
    static PreparedWeights onTape(LlamaModel model, Tape tape) {
        PreparedWeights w = of(model, tape.recording() ? tape.activationType() : tern.runtime.DType.F32);
        for (Linear.Prepared[] layer : w.perLayer)
            for (Linear.Prepared p : layer)
                switch (p) {
                    case Linear.Dense(Tensor used, boolean owned) -> { if (owned) tape.own(used); }
                    case Linear.Packed(var packed, boolean owned) -> { if (owned) tape.own(packed.packed()); }
                }
        return w;
    }

    /** q, k, v, o, gate, up, down of layer i. */
    Linear.Prepared[] layer(int i) { return perLayer[i]; }

    /**
     * Every layer's q, k, v, o, gate, up, down as packed ternary weights, or null when one is not packed:
     * what a decoder running the whole step itself (tern.cuda's CudaGraphDecodeStep) multiplies by.
     */
    public tern.runtime.TernaryWeights[][] packed() {
        tern.runtime.TernaryWeights[][] out = new tern.runtime.TernaryWeights[perLayer.length][];
        for (int i = 0; i < perLayer.length; i++) {
            out[i] = new tern.runtime.TernaryWeights[perLayer[i].length];
            for (int j = 0; j < perLayer[i].length; j++) {
                if (!(perLayer[i][j] instanceof Linear.Packed(var w, boolean owned))) return null;
                out[i][j] = w;
            }
        }
        return out;
    }

    @Override
    public void close() {
        for (Linear.Prepared[] layer : perLayer)
            for (Linear.Prepared p : layer) p.close();
    }
}
