package tern.runtime;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The AdamW moments of every parameter at full shape, for a checkpoint ({@link Optimizer#fullMoments}).
 * When {@code owned}, the tensors were gathered for the occasion and {@link #close} frees them.
 */
public final class FullMoments implements AutoCloseable {
    private final Map<Parameter, Tensor[]> moments;
    private final boolean owned;

    public FullMoments(Map<Parameter, Tensor[]> moments, boolean owned) {
        this.moments = new LinkedHashMap<>(moments);
        this.owned = owned;
    }

    public Tensor first(Parameter p) { return get(p)[0]; }

    public Tensor second(Parameter p) { return get(p)[1]; }

    private Tensor[] get(Parameter p) {
        Tensor[] m = moments.get(p);
        if (m == null) throw new IllegalArgumentException("no moments of " + p.name);
        return m;
    }

    @Override
    public void close() {
        if (!owned) return;
        for (Tensor[] m : moments.values()) {
            m[0].close();
            m[1].close();
        }
    }
}
