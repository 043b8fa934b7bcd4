package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * Causal scaled-dot-product attention, one query row at a time: the scores of one query against the keys
 * it may see live in a single row buffer (never a T×T matrix), are turned into probabilities with the
 * row's max subtracted, and weight the values. The row's log-sum-exp is saved so that the backward pass
 * recomputes the probabilities exactly instead of storing them.
 *
 * <p>Layout: q, out [batch·qLen, heads·headDim]; k, v [batch·kvLen, heads·headDim]; lse [batch, heads, qLen].
 * Query i sees keys j ≤ i + (kvLen − qLen): with a KV cache the queries are the last qLen positions.
 */
final class Attention {
    /** Flops per parallel chunk below which the fork is not worth it. */
    private static final int MIN_CHUNK_WORK = 1 << 15;

    private final FloatKernels k;

    Attention(FloatKernels kernels) { this.k = kernels; }

    void forward(MemorySegment q, MemorySegment kk, MemorySegment v, int batch, int qLen, int kvLen, int heads,
                 int headDim, MemorySegment out, MemorySegment lse) {
        int width = heads * headDim, offset = kvLen - qLen;
        float scale = (float) (1 / Math.sqrt(headDim));
        int tasks = batch * heads * qLen;
        Parallel.range(tasks, minChunk((long) kvLen * headDim), (t0, t1) -> {
            MemorySegment scores = Scratch.floats(kvLen);
            for (int t = t0; t < t1; t++) {
                int b = t / (heads * qLen), h = (t / qLen) % heads, i = t % qLen;
                int visible = i + offset + 1;
                long qAt = ((long) b * qLen + i) * width + (long) h * headDim;
                long kvBase = (long) b * kvLen * width + (long) h * headDim;
                // seek: scores s_j = q_i·k_j / sqrt(d) for the visible keys
                for (int j = 0; j < visible; j++)
                    ScalarFloatKernels.set(scores, j, scale * k.dot(q, qAt, kk, kvBase + (long) j * width, headDim));
                // softmax: subtract the row max, normalise by Σ exp
                float max = k.max(scores, 0, visible);
                double sum = k.sumExp(scores, 0, visible, max);
                k.expShiftScale(scores, 0, visible, max, (float) (1 / sum), scores, 0);
                // out_i = Σ_j p_j·v_j
                k.fill(0f, out, qAt, headDim);
                for (int j = 0; j < visible; j++)
                    k.axpy(ScalarFloatKernels.get(scores, j), v, kvBase + (long) j * width, out, qAt, headDim);
                ScalarFloatKernels.set(lse, t, (float) (max + Math.log(sum)));
            }
        });
    }

    /**
     * With p_ij = exp(s_ij − lse_i), dP_ij = dout_i·v_j and D_i = dout_i·out_i (= Σ_j p_ij·dP_ij):
     * dv_j = Σ_i p_ij·dout_i; dS_ij = p_ij·(dP_ij − D_i); dq_i = scale·Σ_j dS_ij·k_j; dk_j = scale·Σ_i dS_ij·q_i.
     * Parallel over (batch, head): each pair owns its slices of dq, dk and dv, so no two threads add into
     * the same key's gradient.
     */
    void backward(MemorySegment dout, MemorySegment q, MemorySegment kk, MemorySegment v, MemorySegment out,
                  MemorySegment lse, int batch, int qLen, int kvLen, int heads, int headDim,
                  MemorySegment dq, MemorySegment dk, MemorySegment dv) {
        int width = heads * headDim, offset = kvLen - qLen;
        float scale = (float) (1 / Math.sqrt(headDim));
        long workPerPair = (long) qLen * kvLen * headDim * 4;
        Parallel.range(batch * heads, minChunk(workPerPair), (p0, p1) -> {
            MemorySegment probs = Scratch.floats(kvLen);
            for (int pair = p0; pair < p1; pair++) {
                int b = pair / heads, h = pair % heads;
                long qBase = (long) b * qLen * width + (long) h * headDim;
                long kvBase = (long) b * kvLen * width + (long) h * headDim;
                for (int i = 0; i < qLen; i++) k.fill(0f, dq, qBase + (long) i * width, headDim);
                for (int j = 0; j < kvLen; j++) {
                    k.fill(0f, dk, kvBase + (long) j * width, headDim);
                    k.fill(0f, dv, kvBase + (long) j * width, headDim);
                }
                for (int i = 0; i < qLen; i++) {
                    int visible = i + offset + 1;
                    long qAt = qBase + (long) i * width;
                    float rowLse = ScalarFloatKernels.get(lse, (long) pair * qLen + i);
                    // recompute p_ij from the saved log-sum-exp
                    for (int j = 0; j < visible; j++)
                        ScalarFloatKernels.set(probs, j, scale * k.dot(q, qAt, kk, kvBase + (long) j * width, headDim));
                    k.expShiftScale(probs, 0, visible, rowLse, 1f, probs, 0);
                    float d = k.dot(dout, qAt, out, qAt, headDim);
                    for (int j = 0; j < visible; j++) {
                        long kvAt = kvBase + (long) j * width;
                        float p = ScalarFloatKernels.get(probs, j);
                        k.axpy(p, dout, qAt, dv, kvAt, headDim);                       // dv_j += p·dout_i
                        float ds = p * (k.dot(dout, qAt, v, kvAt, headDim) - d);        // dS_ij
                        k.axpy(scale * ds, kk, kvAt, dq, qAt, headDim);                // dq_i += scale·dS·k_j
                        k.axpy(scale * ds, q, qAt, dk, kvAt, headDim);                 // dk_j += scale·dS·q_i
                    }
                }
            }
        });
    }

    private static int minChunk(long workPerTask) {
        return (int) Math.max(1, MIN_CHUNK_WORK / Math.max(1, workPerTask));
    }
}
