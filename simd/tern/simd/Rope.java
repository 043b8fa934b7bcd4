package tern.simd;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rotary position embedding, Hugging Face Llama convention: within each head, dimension i (i < headDim/2)
 * pairs with i + headDim/2 and both rotate by angle pos·theta^(−2i/headDim):
 * out_i = x_i·cos − x_{i+h}·sin, out_{i+h} = x_{i+h}·cos + x_i·sin. The inverse (the backward pass, since a
 * rotation's transpose is its inverse) uses −sin.
 */
final class Rope {
    private static final int MIN_CHUNK_ELEMENTS = 1 << 14;

    /** cos/sin tables depend only on (headDim, theta); each holds positions [0, positions). */
    private record Key(int headDim, float theta) {}

    private record Tables(int positions, float[] cos, float[] sin, float[] negSin) {
        /** Angles in double, rounded once to f32. */
        static Tables build(int headDim, float theta, int positions) {
            int half = headDim / 2;
            float[] cos = new float[positions * half], sin = new float[positions * half], negSin = new float[positions * half];
            for (int p = 0; p < positions; p++)
                for (int i = 0; i < half; i++) {
                    double angle = (double) p * Math.pow(theta, -2.0 * i / headDim);
                    cos[p * half + i] = (float) Math.cos(angle);
                    sin[p * half + i] = (float) Math.sin(angle);
                    negSin[p * half + i] = -sin[p * half + i];
                }
            return new Tables(positions, cos, sin, negSin);
        }
    }

    // Computing the tables costs a pow, a cos and a sin per (position, frequency): milliseconds per call
    // at training lengths, paid by every layer's q and k, forward and backward. They are built once and
    // grown (doubling, for decoding one position at a time) when a later position is asked for.
    private final ConcurrentHashMap<Key, Tables> tables = new ConcurrentHashMap<>();

    private final FloatKernels k;

    Rope(FloatKernels kernels) { this.k = kernels; }

    private Tables tablesFor(int headDim, float theta, int positions) {
        Key key = new Key(headDim, theta);
        Tables t = tables.get(key);
        if (t != null && t.positions() >= positions) return t;
        return tables.compute(key, (unused, old) -> old != null && old.positions() >= positions ? old
                : Tables.build(headDim, theta, Math.max(positions, old == null ? 0 : 2 * old.positions())));
    }

    void apply(MemorySegment x, int rows, int seq, int heads, int headDim, float theta, int posOffset,
               boolean inverse, MemorySegment out) {
        int half = headDim / 2, width = heads * headDim;
        Tables t = tablesFor(headDim, theta, posOffset + seq);
        float[] sin = inverse ? t.negSin() : t.sin();
        Parallel.range(rows, Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, width)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int table = (posOffset + r % seq) * half;
                for (int h = 0; h < heads; h++) {
                    long at = (long) r * width + (long) h * headDim;
                    k.rotate(x, at, t.cos(), sin, table, half, out, at);
                }
            }
        });
    }
}
