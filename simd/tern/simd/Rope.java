package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * Rotary position embedding, Hugging Face Llama convention: within each head, dimension i (i < headDim/2)
 * pairs with i + headDim/2 and both rotate by angle pos·theta^(−2i/headDim):
 * out_i = x_i·cos − x_{i+h}·sin, out_{i+h} = x_{i+h}·cos + x_i·sin. The inverse (the backward pass, since a
 * rotation's transpose is its inverse) uses −sin.
 */
final class Rope {
    private static final int MIN_CHUNK_ELEMENTS = 1 << 14;

    private final FloatKernels k;

    Rope(FloatKernels kernels) { this.k = kernels; }

    void apply(MemorySegment x, int rows, int seq, int heads, int headDim, float theta, int posOffset,
               boolean inverse, MemorySegment out) {
        int half = headDim / 2;
        // cos/sin per (position in the sequence, frequency), angles in double then rounded once to f32.
        float[] cos = new float[seq * half], sin = new float[seq * half];
        for (int p = 0; p < seq; p++)
            for (int i = 0; i < half; i++) {
                double angle = (double) (posOffset + p) * Math.pow(theta, -2.0 * i / headDim);
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) (inverse ? -Math.sin(angle) : Math.sin(angle));
            }
        int width = heads * headDim;
        Parallel.range(rows, Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, width)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int table = (r % seq) * half;
                for (int h = 0; h < heads; h++) {
                    long at = (long) r * width + (long) h * headDim;
                    k.rotate(x, at, cos, sin, table, half, out, at);
                }
            }
        });
    }
}
