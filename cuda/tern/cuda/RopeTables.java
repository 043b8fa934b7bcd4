package tern.cuda;

import java.util.HashMap;
import java.util.Map;
import java.util.function.LongFunction;

import tern.runtime.Tensor;

/**
 * The rotary embedding's (cos, sin) per position and frequency, computed on the device once per head
 * dimension and theta (rope_table_f32 in rope.cu, the same double formula as before, so the same f32
 * values) and kept while the backend lives; regrown to twice the positions when a longer one is asked for.
 */
final class RopeTables implements AutoCloseable {
    private record Key(int headDim, int thetaBits) {}

    private final Kernels kernels;
    private final LongFunction<Tensor> allocateFloats;
    private final Map<Key, Tensor> tables = new HashMap<>();

    RopeTables(Kernels kernels, LongFunction<Tensor> allocateFloats) {
        this.kernels = kernels;
        this.allocateFloats = allocateFloats;
    }

    /** The table of (headDim, theta) covering positions [0, positions): a device tensor of [positions][headDim/2] float pairs. */
    Tensor covering(int headDim, float theta, int positions) {
        Key key = new Key(headDim, Float.floatToIntBits(theta));
        Tensor t = tables.get(key);
        int half = headDim / 2;
        if (t != null && t.size() >= 2L * half * positions) return t;
        int capacity = Math.max(positions, t == null ? 2048 : (int) Math.min(Integer.MAX_VALUE / 2, 2 * (t.size() / (2L * half))));
        capacity = Math.max(capacity, positions);
        Tensor grown = allocateFloats.apply(2L * half * capacity);
        long n = (long) capacity * half;
        kernels.launch(Rope.MODULE, "rope_table_f32", kernels.gridFor(n, 256), 256,
                KernelArgs.of().ptr(CudaBackend.addressOf(grown)).i32(capacity).i32(headDim).f32(theta));
        if (t != null) t.close();                 // stream order: kernels still reading it run before any reuse
        tables.put(key, grown);
        return grown;
    }

    @Override
    public void close() {
        tables.values().forEach(Tensor::close);
        tables.clear();
    }
}
