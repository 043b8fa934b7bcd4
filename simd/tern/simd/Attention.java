package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * Causal scaled-dot-product attention, a few query rows at a time: the scores of each query against the keys
 * it may see live in one row buffer per query (never a T×T matrix), are turned into probabilities with the
 * row's max subtracted, and weight the values. The row's log-sum-exp is saved so that the backward pass
 * recomputes the probabilities exactly instead of storing them.
 *
 * <p>Layout: q, out [batch·qLen, heads·headDim]; k, v [batch·kvLen, heads·headDim]; lse [batch, heads, qLen].
 * Query i sees keys j ≤ i + (kvLen − qLen): with a KV cache the queries are the last qLen positions.
 *
 * <p>Why transposes: a head is short (64–128 floats), so a dot product per key spends as much time
 * reducing lanes and calling as multiplying. With one head's K copied transposed ([headDim, kvLen], each
 * dimension a contiguous row over the keys), the forward pass scores a block of queries as a small matrix
 * product with the keys in vector lanes, and weights the values (as stored: the head dimension in lanes)
 * the same way; the backward pass runs its products as axpys and dots over transposed K and V. The copy
 * costs kvLen·headDim per head, repaid when several queries share it; a few queries (KV-cache decoding)
 * take the dot-per-key path instead.
 */
final class Attention {
    /** Flops per parallel chunk below which the fork is not worth it. */
    private static final int MIN_CHUNK_WORK = 1 << 15;
    /** Below this many queries per head the transposed copy of K and V costs more than it saves. */
    private static final int MIN_QUERIES_FOR_TRANSPOSE = 8;

    private final FloatKernels k;

    Attention(FloatKernels kernels) { this.k = kernels; }

    /** Where one (batch, head) pair's rows start and how far apart they are. */
    private record Head(long qBase, long kvBase, int width) {
        static Head of(int b, int h, int qLen, int kvLen, int heads, int headDim) {
            int width = heads * headDim;
            return new Head((long) b * qLen * width + (long) h * headDim, (long) b * kvLen * width + (long) h * headDim, width);
        }

        long q(int i) { return qBase + (long) i * width; }

        long kv(int j) { return kvBase + (long) j * width; }
    }

    /** dst [headDim, kvLen] ← the head's slice of src [kvLen rows of width], transposed. */
    private static void transpose(MemorySegment src, Head head, int kvLen, int headDim, MemorySegment dst) {
        for (int j = 0; j < kvLen; j++) {
            long from = head.kv(j);
            for (int d = 0; d < headDim; d++)
                ScalarFloatKernels.set(dst, (long) d * kvLen + j, ScalarFloatKernels.get(src, from + d));
        }
    }

    void forward(MemorySegment q, MemorySegment kk, MemorySegment v, int batch, int qLen, int kvLen, int heads,
                 int headDim, MemorySegment out, MemorySegment lse) {
        if (qLen >= MIN_QUERIES_FOR_TRANSPOSE) forwardBlocked(q, kk, v, batch, qLen, kvLen, heads, headDim, out, lse);
        else forwardPerKey(q, kk, v, batch, qLen, kvLen, heads, headDim, out, lse);
    }

    /**
     * Many queries (prefill, training): {@link FloatKernels#BLOCK_ROWS} queries at a time over one head's keys
     * transposed once per head, so each key row and each value row is loaded once per block instead of once per
     * query. The block's scores run to the last query's visible length; an earlier query's extra keys get
     * probability 0, so one weighted sum over the same keys serves the whole block. Softmax per query as in
     * {@link #forwardPerKey}: same max, same double-summed denominator.
     */
    private void forwardBlocked(MemorySegment q, MemorySegment kk, MemorySegment v, int batch, int qLen, int kvLen,
                                int heads, int headDim, MemorySegment out, MemorySegment lse) {
        int offset = kvLen - qLen, rows = FloatKernels.BLOCK_ROWS;
        int blocks = (qLen + rows - 1) / rows;
        float scale = (float) (1 / Math.sqrt(headDim));
        Parallel.range(batch * heads * blocks, minChunk(2L * rows * kvLen * headDim), (t0, t1) -> {
            MemorySegment scores = Scratch.reused(0, (long) rows * kvLen);
            MemorySegment kT = Scratch.reused(1, (long) headDim * kvLen);
            MemorySegment scaledQ = Scratch.reused(2, (long) rows * headDim);
            int pairInScratch = -1;
            for (int t = t0; t < t1; t++) {
                int pair = t / blocks, first = (t % blocks) * rows, count = Math.min(rows, qLen - first);
                Head head = Head.of(pair / heads, pair % heads, qLen, kvLen, heads, headDim);
                if (pair != pairInScratch) {
                    transpose(kk, head, kvLen, headDim, kT);
                    pairInScratch = pair;
                }
                for (int r = 0; r < count; r++) k.scale(scale, q, head.q(first + r), scaledQ, (long) r * headDim, headDim);
                int keys = first + count + offset;   // the block's last query sees this many keys
                k.scoreBlock(scaledQ, 0, headDim, count, headDim, kT, 0, kvLen, keys, scores, 0, kvLen);
                for (int r = 0; r < count; r++) {
                    int visible = first + r + offset + 1;
                    long row = (long) r * kvLen;
                    float max = k.max(scores, row, visible);
                    double sum = k.sumExp(scores, row, visible, max);
                    k.expShiftScale(scores, row, visible, max, (float) (1 / sum), scores, row);
                    k.fill(0f, scores, row + visible, keys - visible);   // keys this query may not see
                    ScalarFloatKernels.set(lse, (long) pair * qLen + first + r, (float) (max + Math.log(sum)));
                }
                k.weightBlock(scores, 0, kvLen, count, keys, v, head.kv(0), head.width(), headDim,
                        out, head.q(first), head.width());
            }
        });
    }

    /**
     * A few queries (KV-cache decoding): a dot per key for the scores, an axpy per key for the output. The
     * (batch, head, query) rows are claimed in pieces by the caller and {@link Parallel#shared}'s helpers, as
     * the packed products of the same step are: a decode step makes one such call per layer, and handing each
     * to the fork-join pool (whose workers are not the spinning helpers) cost a wake-up per call.
     */
    private void forwardPerKey(MemorySegment q, MemorySegment kk, MemorySegment v, int batch, int qLen, int kvLen,
                               int heads, int headDim, MemorySegment out, MemorySegment lse) {
        int offset = kvLen - qLen;
        float scale = (float) (1 / Math.sqrt(headDim));
        Parallel.shared(batch * heads * qLen, minChunk(2L * kvLen * headDim), (t0, t1) -> {
            MemorySegment scores = Scratch.reused(0, kvLen);
            for (int t = t0; t < t1; t++) {
                int pair = t / qLen, i = t % qLen;
                Head head = Head.of(pair / heads, pair % heads, qLen, kvLen, heads, headDim);
                long qAt = head.q(i);
                float l = oneQuery(q, qAt, kk, v, head.kv(0), head.width(), i + offset + 1, headDim, scale, out, qAt, scores);
                ScalarFloatKernels.set(lse, t, l);
            }
        });
    }

    /**
     * One decode step of several sequences, each over its own cache: row b of q [B, heads·headDim] against
     * keys[b], values[b] ([lengths[b] rows, heads·headDim]); out like q, lse [B, heads]. Every (row, head)
     * pair runs {@link #oneQuery} exactly as {@link #forwardPerKey} does for that row alone, so a row's
     * result does not depend on the batch; all B·heads pairs share one parallel call.
     */
    void forwardDecode(MemorySegment q, MemorySegment[] keys, MemorySegment[] values, int[] lengths, int heads, int headDim,
                       MemorySegment out, MemorySegment lse) {
        int batch = lengths.length, width = heads * headDim, longest = 0;
        long work = 0;
        for (int len : lengths) {
            longest = Math.max(longest, len);
            work += 2L * len * headDim * heads;
        }
        float scale = (float) (1 / Math.sqrt(headDim));
        int most = longest;
        Parallel.shared(batch * heads, minChunk(Math.max(1, work / ((long) batch * heads))), (t0, t1) -> {
            MemorySegment scores = Scratch.reused(0, most);
            for (int t = t0; t < t1; t++) {
                int b = t / heads, h = t % heads;
                long qAt = (long) b * width + (long) h * headDim;
                float l = oneQuery(q, qAt, keys[b], values[b], (long) h * headDim, width, lengths[b], headDim, scale, out, qAt, scores);
                ScalarFloatKernels.set(lse, t, l);
            }
        });
    }

    /**
     * One query of one head against its first {@code visible} keys (rows kvAt + j·width of kk and v):
     * out[outAt …] ← softmax(scale·q·kᵀ)·v; returns the log-sum-exp. {@code scores} holds ≥ visible floats.
     */
    private float oneQuery(MemorySegment q, long qAt, MemorySegment kk, MemorySegment v, long kvAt, int width, int visible,
                           int headDim, float scale, MemorySegment out, long outAt, MemorySegment scores) {
        // scores s_j = q·k_j / sqrt(d) for the visible keys
        for (int j = 0; j < visible; j++)
            ScalarFloatKernels.set(scores, j, scale * k.dot(q, qAt, kk, kvAt + (long) j * width, headDim));
        // softmax: subtract the row max, normalise by Σ exp
        float max = k.max(scores, 0, visible);
        double sum = k.sumExp(scores, 0, visible, max);
        k.expShiftScale(scores, 0, visible, max, (float) (1 / sum), scores, 0);
        // out = Σ_j p_j·v_j
        k.fill(0f, out, outAt, headDim);
        for (int j = 0; j < visible; j++)
            k.axpy(ScalarFloatKernels.get(scores, j), v, kvAt + (long) j * width, out, outAt, headDim);
        return (float) (max + Math.log(sum));
    }

    /**
     * With p_ij = exp(s_ij − lse_i), dP_ij = dout_i·v_j and D_i = dout_i·out_i (= Σ_j p_ij·dP_ij):
     * dv_j = Σ_i p_ij·dout_i; dS_ij = p_ij·(dP_ij − D_i); dq_i = scale·Σ_j dS_ij·k_j; dk_j = scale·Σ_i dS_ij·q_i.
     * Parallel over (batch, head): each pair owns its slices of dq, dk and dv, so no two threads add into
     * the same key's gradient. Every product runs on the transposed copies: rows over the keys.
     */
    void backward(MemorySegment dout, MemorySegment q, MemorySegment kk, MemorySegment v, MemorySegment out,
                  MemorySegment lse, int batch, int qLen, int kvLen, int heads, int headDim,
                  MemorySegment dq, MemorySegment dk, MemorySegment dv) {
        int offset = kvLen - qLen;
        float scale = (float) (1 / Math.sqrt(headDim));
        long workPerPair = (long) qLen * kvLen * headDim * 5;
        long size = (long) headDim * kvLen;
        Parallel.range(batch * heads, minChunk(workPerPair), (p0, p1) -> {
            MemorySegment probs = Scratch.reused(0, kvLen), dS = Scratch.reused(1, kvLen);
            MemorySegment kT = Scratch.reused(2, size), vT = Scratch.reused(3, size);
            MemorySegment dkT = Scratch.reused(4, size), dvT = Scratch.reused(5, size);
            for (int pair = p0; pair < p1; pair++) {
                Head head = Head.of(pair / heads, pair % heads, qLen, kvLen, heads, headDim);
                transpose(kk, head, kvLen, headDim, kT);
                transpose(v, head, kvLen, headDim, vT);
                k.fill(0f, dkT, 0, (int) size);
                k.fill(0f, dvT, 0, (int) size);
                for (int i = 0; i < qLen; i++) {
                    int visible = i + offset + 1;
                    long qAt = head.q(i);
                    // recompute p_ij = exp(s_ij − lse_i) from the saved log-sum-exp
                    k.fill(0f, probs, 0, visible);
                    for (int d = 0; d < headDim; d++)
                        k.axpy(scale * ScalarFloatKernels.get(q, qAt + d), kT, (long) d * kvLen, probs, 0, visible);
                    k.expShiftScale(probs, 0, visible, ScalarFloatKernels.get(lse, (long) pair * qLen + i), 1f, probs, 0);
                    // dP_ij = dout_i·v_j, then dS = p ⊙ (dP − D_i)
                    k.fill(0f, dS, 0, visible);
                    for (int d = 0; d < headDim; d++)
                        k.axpy(ScalarFloatKernels.get(dout, qAt + d), vT, (long) d * kvLen, dS, 0, visible);
                    k.softmaxGrad(probs, 0, dS, 0, k.dot(dout, qAt, out, qAt, headDim), dS, 0, visible);
                    for (int d = 0; d < headDim; d++) {
                        long row = (long) d * kvLen;
                        k.axpy(ScalarFloatKernels.get(dout, qAt + d), probs, 0, dvT, row, visible);      // dv_j += p_ij·dout_i
                        k.axpy(scale * ScalarFloatKernels.get(q, qAt + d), dS, 0, dkT, row, visible);    // dk_j += scale·dS_ij·q_i
                        ScalarFloatKernels.set(dq, qAt + d, scale * k.dot(dS, 0, kT, row, visible));    // dq_i = scale·Σ_j dS_ij·k_j
                    }
                }
                // written, not accumulated: copy the transposed gradients back over dk and dv
                for (int j = 0; j < kvLen; j++) {
                    long at = head.kv(j);
                    for (int d = 0; d < headDim; d++) {
                        ScalarFloatKernels.set(dk, at + d, ScalarFloatKernels.get(dkT, (long) d * kvLen + j));
                        ScalarFloatKernels.set(dv, at + d, ScalarFloatKernels.get(dvT, (long) d * kvLen + j));
                    }
                }
            }
        });
    }

    private static int minChunk(long workPerTask) {
        return (int) Math.max(1, MIN_CHUNK_WORK / Math.max(1, workPerTask));
    }
}
