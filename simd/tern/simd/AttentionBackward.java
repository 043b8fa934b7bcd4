package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * The causal attention backward pass in tiles: a block of {@link FloatKernels#BLOCK_ROWS} key rows against every
 * query that sees them, each product a register-tiled {@link FloatKernels#scoreBlock} or
 * {@link FloatKernels#weightBlock}. With p_ij = exp(s_ij − lse_i), s_ij = scale·q_i·k_j, D_i = dout_i·out_i:
 * <pre>
 *   Sᵀ, dPᵀ  (block of keys × queries) = K_blk·(scale·Q)ᵀ, V_blk·dOᵀ      scoreBlock over transposed Q and dO
 *   P = exp(S − lse),  dS' = scale·P ⊙ (dP − D)                          row kernels, lse and D along the lanes
 *   dv_blk = P·dO,  dk_blk = dS'·Q                                       weightBlock: written once, complete
 *   dqᵀ += Kᵀ_chunk·dS'_chunk                                            weightBlock per chunk of keys
 * </pre>
 * Why keys outside: dk and dv of a key are sums over the queries, so with the keys as the tile's rows each is
 * one register-tiled sum written once, where the row-at-a-time pass ran five axpys or dots per head dimension
 * and query, each loading and storing its accumulator row (JFR, 10M training step: a third of the step).
 * dq sums over keys instead, so it takes the transposed form, one product per chunk of keys (the chunk's dS'
 * rows kept, at most {@link #CHUNK_FLOATS} floats), added into dqᵀ. The recomputed S costs what the forward's
 * scores did; nothing of size T×T is stored.
 *
 * <p>Each (batch, head) pair is one task, run start to end by one thread in a fixed order, and owns its slices
 * of dq, dk and dv: the result does not depend on the thread count and repeats bit for bit.
 */
final class AttentionBackward {
    /** Floats of dS' rows one chunk of keys keeps for its dq product (64 KiB: L2, beside the transposed operands). */
    static final int CHUNK_FLOATS = 1 << 14;
    /** Flops per parallel chunk below which the fork is not worth it. */
    private static final int MIN_CHUNK_WORK = 1 << 15;

    private final FloatKernels k;

    AttentionBackward(FloatKernels kernels) { this.k = kernels; }

    /** Keys per chunk of the dq product: a multiple of the tile height, at least one tile. */
    static int chunkKeys(int qLen, int kvLen, int chunkFloats) {
        int rows = FloatKernels.BLOCK_ROWS;
        int keys = Math.max(rows, chunkFloats / Math.max(1, qLen) / rows * rows);
        return Math.min(keys, (kvLen + rows - 1) / rows * rows);
    }

    void backward(MemorySegment dout, MemorySegment q, MemorySegment kk, MemorySegment v, MemorySegment out,
                  MemorySegment lse, int batch, int qLen, int kvLen, int heads, int headDim,
                  MemorySegment dq, MemorySegment dk, MemorySegment dv) {
        backward(dout, q, kk, v, out, lse, batch, qLen, kvLen, heads, headDim, dq, dk, dv, CHUNK_FLOATS);
    }

    /** As above with the chunk's size given (tests run several chunks on short rows). */
    void backward(MemorySegment dout, MemorySegment q, MemorySegment kk, MemorySegment v, MemorySegment out,
                  MemorySegment lse, int batch, int qLen, int kvLen, int heads, int headDim,
                  MemorySegment dq, MemorySegment dk, MemorySegment dv, int chunkFloats) {
        int chunk = chunkKeys(qLen, kvLen, chunkFloats);
        long workPerPair = 5L * qLen * kvLen * headDim;
        Parallel.range(batch * heads, (int) Math.max(1, MIN_CHUNK_WORK / Math.max(1, workPerPair)), (p0, p1) -> {
            Buffers b = new Buffers(qLen, kvLen, headDim, chunk);
            for (int pair = p0; pair < p1; pair++)
                pair(dout, q, kk, v, out, lse, pair, qLen, kvLen, heads, headDim, dq, dk, dv, chunk, b);
        });
    }

    /** This thread's work buffers, slices of one reused scratch segment. */
    private record Buffers(MemorySegment qT, MemorySegment doT, MemorySegment kT, MemorySegment dqT,
                           MemorySegment partial, MemorySegment s, MemorySegment dP, MemorySegment dS, MemorySegment d) {
        Buffers(int qLen, int kvLen, int headDim, int chunk) {
            this(new long[] {(long) headDim * qLen, (long) headDim * qLen, (long) headDim * kvLen, (long) headDim * qLen,
                    (long) headDim * qLen, (long) FloatKernels.BLOCK_ROWS * qLen, (long) FloatKernels.BLOCK_ROWS * qLen,
                    (long) chunk * qLen, qLen});
        }

        private Buffers(long[] sizes) {
            this(slices(sizes));
        }

        private Buffers(MemorySegment[] s) {
            this(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]);
        }

        /** Each slice starts on a 64-byte line (sizes rounded up to 16 floats). */
        private static MemorySegment[] slices(long[] sizes) {
            long total = 0;
            for (long n : sizes) total += (n + 15) / 16 * 16;
            MemorySegment all = Scratch.reused(0, total);
            MemorySegment[] out = new MemorySegment[sizes.length];
            long at = 0;
            for (int i = 0; i < sizes.length; i++) {
                out[i] = all.asSlice(at * Float.BYTES, Math.max(1, sizes[i]) * Float.BYTES);
                at += (sizes[i] + 15) / 16 * 16;
            }
            return out;
        }
    }

    /** dst[c·rows + r] ← alpha·src[base + r·stride + c] for r < rows, c < cols. */
    private static void transpose(MemorySegment src, long base, long stride, int rows, int cols, float alpha, MemorySegment dst) {
        for (int r = 0; r < rows; r++) {
            long from = base + r * stride;
            for (int c = 0; c < cols; c++)
                ScalarFloatKernels.set(dst, (long) c * rows + r, alpha * ScalarFloatKernels.get(src, from + c));
        }
    }

    private void pair(MemorySegment dout, MemorySegment q, MemorySegment kk, MemorySegment v, MemorySegment out,
                      MemorySegment lse, int pair, int qLen, int kvLen, int heads, int headDim,
                      MemorySegment dq, MemorySegment dk, MemorySegment dv, int chunk, Buffers b) {
        int bi = pair / heads, h = pair % heads, width = heads * headDim, offset = kvLen - qLen;
        int rows = FloatKernels.BLOCK_ROWS;
        long qBase = (long) bi * qLen * width + (long) h * headDim, kvBase = (long) bi * kvLen * width + (long) h * headDim;
        long lseAt = (long) pair * qLen;
        float scale = (float) (1 / Math.sqrt(headDim));
        transpose(q, qBase, width, qLen, headDim, scale, b.qT());      // (scale·Q)ᵀ [headDim, qLen]
        transpose(dout, qBase, width, qLen, headDim, 1f, b.doT());     // dOᵀ [headDim, qLen]
        transpose(kk, kvBase, width, kvLen, headDim, 1f, b.kT());      // Kᵀ [headDim, kvLen]
        for (int i = 0; i < qLen; i++) {
            long at = qBase + (long) i * width;
            ScalarFloatKernels.set(b.d(), i, k.dot(dout, at, out, at, headDim));   // D_i = dout_i·out_i
        }
        for (int c0 = 0; c0 < kvLen; c0 += chunk) {
            int c1 = Math.min(kvLen, c0 + chunk), ci0 = Math.max(0, c0 - offset);   // ci0: first query seeing the chunk
            for (int j0 = c0; j0 < c1; j0 += rows) {
                int count = Math.min(rows, c1 - j0), bi0 = Math.max(0, j0 - offset), n = qLen - bi0;
                long keyRow = kvBase + (long) j0 * width;
                k.scoreBlock(kk, keyRow, width, count, headDim, b.qT(), bi0, qLen, n, b.s(), bi0, qLen);
                k.scoreBlock(v, keyRow, width, count, headDim, b.doT(), bi0, qLen, n, b.dP(), bi0, qLen);
                for (int r = 0; r < count; r++) {
                    int first = Math.max(0, j0 + r - offset);   // key j0 + r is seen by queries ≥ first
                    long row = (long) r * qLen, dsRow = (long) (j0 + r - c0) * qLen;
                    k.expShiftEach(b.s(), row + first, lse, lseAt + first, qLen - first, b.s(), row + first);
                    k.fill(0f, b.s(), row + bi0, first - bi0);
                    k.softmaxGradEach(scale, b.s(), row + first, b.dP(), row + first, b.d(), first,
                            b.dS(), dsRow + first, qLen - first);
                    k.fill(0f, b.dS(), dsRow + ci0, first - ci0);
                }
                long qFrom = qBase + (long) bi0 * width;
                k.weightBlock(b.s(), bi0, qLen, count, n, dout, qFrom, width, headDim, dv, keyRow, width);
                k.weightBlock(b.dS(), (long) (j0 - c0) * qLen + bi0, qLen, count, n, q, qFrom, width, headDim, dk, keyRow, width);
            }
            // dqᵀ[d, i] (+)= Σ_{j in chunk} kᵀ[d, j]·dS'[j, i] over the queries that see the chunk
            MemorySegment target = c0 == 0 ? b.dqT() : b.partial();
            for (int d0 = 0; d0 < headDim; d0 += rows)
                k.weightBlock(b.kT(), (long) d0 * kvLen + c0, kvLen, Math.min(rows, headDim - d0), c1 - c0,
                        b.dS(), ci0, qLen, qLen - ci0, target, (long) d0 * qLen + ci0, qLen);
            if (c0 > 0)
                for (int d = 0; d < headDim; d++) {
                    long at = (long) d * qLen + ci0;
                    k.add(b.dqT(), at, b.partial(), at, b.dqT(), at, qLen - ci0);
                }
        }
        for (int i = 0; i < qLen; i++) {   // written, not accumulated: dq rows ← dqᵀ
            long at = qBase + (long) i * width;
            for (int d = 0; d < headDim; d++) ScalarFloatKernels.set(dq, at + d, ScalarFloatKernels.get(b.dqT(), (long) d * qLen + i));
        }
    }
}
