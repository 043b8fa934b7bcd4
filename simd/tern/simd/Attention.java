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
 * the same way ({@link AttentionBackward} tiles the backward pass with the same two kernels). The copy
 * costs kvLen·headDim per head, repaid when several queries share it; a few queries (KV-cache decoding)
 * take the dot-per-key path instead.
 */
final class Attention {
    /** Flops per parallel chunk below which the fork is not worth it. */
    private static final int MIN_CHUNK_WORK = 1 << 15;
    /** Below this many queries per head the transposed copy of K and V costs more than it saves. */
    private static final int MIN_QUERIES_FOR_TRANSPOSE = 8;
    /**
     * Decode attention takes the keys in blocks of this many, every head of the piece over a block before the next:
     * a cache row is 4 KiB at the 390M shape, so a head alone over all keys reads a new page per key, while all
     * heads over all keys no longer keep one head's query in registers. Measured (one query, 24 layers' caches of
     * 256 / 512 keys, 2 threads, Zen 3): blocks of 4 / 8 / 16 keys 4.9 / 3.4 / 3.1 ms and 9.3 / 6.5 / 5.9 ms per token.
     */
    private static final int KEY_BLOCK = 16;

    private final FloatKernels k;
    private final AttentionBackward backward;

    Attention(FloatKernels kernels) {
        this.k = kernels;
        this.backward = new AttentionBackward(kernels);
    }

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
     * A few queries (KV-cache decoding): a dot per key for the scores, an axpy per key for the output, a
     * group of heads at a time ({@link #headGroup}). The (batch, query, head group) pieces are claimed by the
     * caller and {@link Parallel#shared}'s helpers, as the packed products of the same step are: a decode step
     * makes one such call per layer, and handing each to the fork-join pool (whose workers are not the
     * spinning helpers) cost a wake-up per call.
     */
    private void forwardPerKey(MemorySegment q, MemorySegment kk, MemorySegment v, int batch, int qLen, int kvLen,
                               int heads, int headDim, MemorySegment out, MemorySegment lse) {
        int offset = kvLen - qLen, rows = batch * qLen, width = heads * headDim;
        int group = groupSize(rows, heads), groups = (heads + group - 1) / group;
        float scale = (float) (1 / Math.sqrt(headDim));
        Parallel.shared(rows * groups, minChunk(2L * kvLen * headDim * group), (t0, t1) -> {
            MemorySegment scores = Scratch.reused(0, (long) group * kvLen);
            for (int t = t0; t < t1; t++) {
                int row = t / groups, h0 = (t % groups) * group, b = row / qLen, i = row % qLen;
                headGroup(q, (long) row * width, kk, v, (long) b * kvLen * width, width, i + offset + 1, h0, Math.min(heads, h0 + group),
                        headDim, scale, out, lse, (long) b * heads * qLen + i, qLen, scores);
            }
        });
    }

    /**
     * One decode step of several sequences, each over its own cache: row b of q [B, heads·headDim] against
     * keys[b], values[b] ([lengths[b] rows, heads·headDim]); out like q, lse [B, heads]. Every head of a row
     * runs the same operations as {@link #forwardPerKey} runs for that row alone, so a row's result does not
     * depend on the batch; all rows share one parallel call.
     */
    void forwardDecode(MemorySegment q, MemorySegment[] keys, MemorySegment[] values, int[] lengths, int heads, int headDim,
                       MemorySegment out, MemorySegment lse) {
        int batch = lengths.length, width = heads * headDim, longest = 0;
        long work = 0;
        for (int len : lengths) {
            longest = Math.max(longest, len);
            work += 2L * len * headDim * heads;
        }
        int group = groupSize(batch, heads), groups = (heads + group - 1) / group, most = longest;
        float scale = (float) (1 / Math.sqrt(headDim));
        Parallel.shared(batch * groups, minChunk(Math.max(1, work / ((long) batch * groups))), (t0, t1) -> {
            MemorySegment scores = Scratch.reused(0, (long) group * most);
            for (int t = t0; t < t1; t++) {
                int b = t / groups, h0 = (t % groups) * group;
                headGroup(q, (long) b * width, keys[b], values[b], 0, width, lengths[b], h0, Math.min(heads, h0 + group), headDim, scale,
                        out, lse, (long) b * heads, 1, scores);
            }
        });
    }

    /**
     * Heads per piece of the decode paths: all of a row's heads when there are rows enough to share out,
     * else fewer, so a lone sequence still spreads over the threads.
     */
    private static int groupSize(int rows, int heads) {
        int groups = Math.min(heads, Math.max(1, (2 * Parallel.THREADS + rows - 1) / rows));
        return (heads + groups - 1) / groups;
    }

    /**
     * One query row (at q[qRow …]) of heads [h0, h1) against its first {@code visible} keys, key j of head h
     * at kvBase + j·width + h·headDim in kk and v: out[qRow + h·headDim …] ← softmax(scale·q·kᵀ)·v and
     * lse[lseAt + h·lseStride] ← the log-sum-exp. Each head's scores and weighted sum are one kernel call
     * ({@link FloatKernels#headScores}, {@link FloatKernels#headWeights}) that may keep the head's query or
     * output in registers across the keys; both take the keys in ascending order with the operations of a
     * dot and an axpy per key, so the bits are those of the per-key calls. {@code scores} holds ≥ (h1 − h0)·visible floats.
     */
    private void headGroup(MemorySegment q, long qRow, MemorySegment kk, MemorySegment v, long kvBase, int width, int visible,
                           int h0, int h1, int headDim, float scale, MemorySegment out, MemorySegment lse, long lseAt, int lseStride,
                           MemorySegment scores) {
        // scores s_hj = q_h·k_hj / sqrt(d) for the visible keys
        for (int j0 = 0; j0 < visible; j0 += KEY_BLOCK) {
            int n = Math.min(KEY_BLOCK, visible - j0);
            long key = kvBase + (long) j0 * width;
            for (int h = h0; h < h1; h++)
                k.headScores(q, qRow + (long) h * headDim, kk, key + (long) h * headDim, width, n, headDim, scale,
                        scores, (long) (h - h0) * visible + j0);
        }
        // softmax per head: subtract the row max, normalise by Σ exp
        for (int h = h0; h < h1; h++) {
            long row = (long) (h - h0) * visible;
            float max = k.max(scores, row, visible);
            double sum = k.sumExp(scores, row, visible, max);
            k.expShiftScale(scores, row, visible, max, (float) (1 / sum), scores, row);
            ScalarFloatKernels.set(lse, lseAt + (long) h * lseStride, (float) (max + Math.log(sum)));
            k.fill(0f, out, qRow + (long) h * headDim, headDim);
        }
        // out_h = Σ_j p_hj·v_hj
        for (int j0 = 0; j0 < visible; j0 += KEY_BLOCK) {
            int n = Math.min(KEY_BLOCK, visible - j0);
            long value = kvBase + (long) j0 * width;
            for (int h = h0; h < h1; h++)
                k.headWeights(scores, (long) (h - h0) * visible + j0, n, v, value + (long) h * headDim, width, headDim,
                        out, qRow + (long) h * headDim);
        }
    }

    /** The backward pass: {@link AttentionBackward} (key blocks against the queries that see them). */
    void backward(MemorySegment dout, MemorySegment q, MemorySegment kk, MemorySegment v, MemorySegment out,
                  MemorySegment lse, int batch, int qLen, int kvLen, int heads, int headDim,
                  MemorySegment dq, MemorySegment dk, MemorySegment dv) {
        backward.backward(dout, q, kk, v, out, lse, batch, qLen, kvLen, heads, headDim, dq, dk, dv);
    }

    private static int minChunk(long workPerTask) {
        return (int) Math.max(1, MIN_CHUNK_WORK / Math.max(1, workPerTask));
    }
}
