// Causal softmax attention, memory-efficient: scores are computed a tile of 32 keys at a time with an
// online softmax, never as a T x T matrix; the forward saves lse (log-sum-exp of the scaled scores) per
// query, and the backward recomputes the probabilities from it. Valid for sm_70 and later.
//
// Layout: q, out, dout are [batch * qLen, heads * headDim]; k, v, dk, dv are [batch * kvLen, heads * headDim];
// lse and the backward's delta are [batch, heads, qLen]. Query i sees keys j <= i + (kvLen - qLen).
//
// Work split (all three kernels): a block of 8 warps, one warp per query (per key in the dk/dv kernel).
// Within a warp, lane l takes the l-th key (query) of the staged tile for the dot products, and the
// headDim outputs are spread over the lanes (d = l, l + 32, ...) for the weighted sums, so every inner
// loop is plain FMAs on shared memory and only a max and a sum per tile cross lanes.

// NVRTC has no <math.h>: the one constant we use from it.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

#define MAXD 128                 // headDim limit (the Spectra family uses 64 and 128)
#define PER_LANE (MAXD / 32)
#define WARPS 8
#define KT 32                    // keys (queries) per staged tile
#define PAD (MAXD + 1)           // row stride of tiles read lane-per-row: conflict-free

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

extern "C" __global__ void __launch_bounds__(256) attn_fwd(const float* q, const float* k, const float* v,
        float* out, float* lse, int batch, int qLen, int kvLen, int heads, int D, float scale) {
    __shared__ float Ks[KT][PAD];
    __shared__ float Vs[KT][MAXD];
    __shared__ float Qs[WARPS][MAXD];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int h = blockIdx.y, b = blockIdx.z;
    const int qi = blockIdx.x * WARPS + warp;
    const int offset = kvLen - qLen;
    const long rowStride = (long)heads * D;
    const bool active = qi < qLen;
    const int limit = qi + offset;                                // last key this query sees
    const int blockLimit = min(kvLen - 1, min(qLen - 1, blockIdx.x * WARPS + WARPS - 1) + offset);

    if (active)
        for (int d = lane; d < D; d += 32) Qs[warp][d] = q[((long)b * qLen + qi) * rowStride + (long)h * D + d];
    float acc[PER_LANE];
#pragma unroll
    for (int t = 0; t < PER_LANE; t++) acc[t] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int k0 = 0; k0 <= blockLimit; k0 += KT) {
        __syncthreads();                                         // previous tile fully consumed
        for (int e = threadIdx.x; e < KT * D; e += blockDim.x) {
            int j = e / D, d = e - j * D, key = k0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (key < kvLen) {
                long src = ((long)b * kvLen + key) * rowStride + (long)h * D + d;
                kv = k[src];
                vv = v[src];
            }
            Ks[j][d] = kv;
            Vs[j][d] = vv;
        }
        __syncthreads();
        if (!active || k0 > limit) continue;
        int key = k0 + lane;
        float s = -INFINITY;
        if (key <= limit) {
            float dot = 0.0f;
            for (int d = 0; d < D; d++) dot = fmaf(Qs[warp][d], Ks[lane][d], dot);
            s = dot * scale;
        }
        float mNew = fmaxf(m, warp_max(s));                     // finite: key k0 <= limit is valid
        float p = s == -INFINITY ? 0.0f : expf(s - mNew);
        float correction = expf(m - mNew);                       // 0 on the first tile (m = -inf)
        l = l * correction + warp_sum(p);
#pragma unroll
        for (int t = 0; t < PER_LANE; t++) acc[t] *= correction;
        int last = min(KT, limit - k0 + 1);
        for (int jj = 0; jj < last; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
            for (int t = 0; t < PER_LANE; t++) {
                int d = lane + 32 * t;
                if (d < D) acc[t] = fmaf(pj, Vs[jj][d], acc[t]);
            }
        }
        m = mNew;
    }
    if (active) {
        float inv = 1.0f / l;
        long o = ((long)b * qLen + qi) * rowStride + (long)h * D;
#pragma unroll
        for (int t = 0; t < PER_LANE; t++) {
            int d = lane + 32 * t;
            if (d < D) out[o + d] = acc[t] * inv;
        }
        if (lane == 0) lse[((long)b * heads + h) * qLen + qi] = m + logf(l);
    }
}

// delta[b, h, i] = Σ_d dout · out over the query's head: the softmax backward's row term.
extern "C" __global__ void attn_bwd_delta(const float* dout, const float* out, float* delta,
                                          int batch, int qLen, int heads, int D) {
    const int lane = threadIdx.x & 31;
    long item = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);   // (b, i, h) flattened
    long total = (long)batch * qLen * heads;
    if (item >= total) return;
    int h = (int)(item % heads);
    long bi = item / heads;                                        // b * qLen + i
    long base = bi * heads * D + (long)h * D;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s = fmaf(dout[base + d], out[base + d], s);
    s = warp_sum(s);
    if (lane == 0) {
        int b = (int)(bi / qLen), i = (int)(bi % qLen);
        delta[((long)b * heads + h) * qLen + i] = s;
    }
}

// dq_i = scale Σ_j p_ij (dout_i · v_j - delta_i) k_j, p_ij = exp(scale q_i · k_j - lse_i). One warp per query.
extern "C" __global__ void __launch_bounds__(256) attn_bwd_dq(const float* q, const float* k, const float* v,
        const float* dout, const float* lse, const float* delta, float* dq,
        int batch, int qLen, int kvLen, int heads, int D, float scale) {
    __shared__ float Ks[KT][PAD];
    __shared__ float Vs[KT][PAD];
    __shared__ float Qs[WARPS][MAXD];
    __shared__ float Gs[WARPS][MAXD];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int h = blockIdx.y, b = blockIdx.z;
    const int qi = blockIdx.x * WARPS + warp;
    const int offset = kvLen - qLen;
    const long rowStride = (long)heads * D;
    const bool active = qi < qLen;
    const int limit = qi + offset;
    const int blockLimit = min(kvLen - 1, min(qLen - 1, blockIdx.x * WARPS + WARPS - 1) + offset);

    float rowLse = 0.0f, rowDelta = 0.0f;
    if (active) {
        long src = ((long)b * qLen + qi) * rowStride + (long)h * D;
        for (int d = lane; d < D; d += 32) { Qs[warp][d] = q[src + d]; Gs[warp][d] = dout[src + d]; }
        long li = ((long)b * heads + h) * qLen + qi;
        rowLse = lse[li];
        rowDelta = delta[li];
    }
    float acc[PER_LANE];
#pragma unroll
    for (int t = 0; t < PER_LANE; t++) acc[t] = 0.0f;

    for (int k0 = 0; k0 <= blockLimit; k0 += KT) {
        __syncthreads();
        for (int e = threadIdx.x; e < KT * D; e += blockDim.x) {
            int j = e / D, d = e - j * D, key = k0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (key < kvLen) {
                long src = ((long)b * kvLen + key) * rowStride + (long)h * D + d;
                kv = k[src];
                vv = v[src];
            }
            Ks[j][d] = kv;
            Vs[j][d] = vv;
        }
        __syncthreads();
        if (!active || k0 > limit) continue;
        int key = k0 + lane;
        float ds = 0.0f;
        if (key <= limit) {
            float dot = 0.0f, dp = 0.0f;
            for (int d = 0; d < D; d++) {
                dot = fmaf(Qs[warp][d], Ks[lane][d], dot);
                dp = fmaf(Gs[warp][d], Vs[lane][d], dp);
            }
            float p = expf(dot * scale - rowLse);
            ds = p * (dp - rowDelta);
        }
        int last = min(KT, limit - k0 + 1);
        for (int jj = 0; jj < last; jj++) {
            float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
            for (int t = 0; t < PER_LANE; t++) {
                int d = lane + 32 * t;
                if (d < D) acc[t] = fmaf(dsj, Ks[jj][d], acc[t]);
            }
        }
    }
    if (active) {
        long o = ((long)b * qLen + qi) * rowStride + (long)h * D;
#pragma unroll
        for (int t = 0; t < PER_LANE; t++) {
            int d = lane + 32 * t;
            if (d < D) dq[o + d] = acc[t] * scale;
        }
    }
}

// dv_j = Σ_i p_ij dout_i ; dk_j = scale Σ_i p_ij (dout_i · v_j - delta_i) q_i, over the queries that see key j.
// One warp per key; lanes take the staged queries.
extern "C" __global__ void __launch_bounds__(256) attn_bwd_dkdv(const float* q, const float* k, const float* v,
        const float* dout, const float* lse, const float* delta, float* dk, float* dv,
        int batch, int qLen, int kvLen, int heads, int D, float scale) {
    __shared__ float Qs[KT][PAD];
    __shared__ float Gs[KT][PAD];
    __shared__ float Ls[KT], Ds[KT];
    __shared__ float Kw[WARPS][MAXD];
    __shared__ float Vw[WARPS][MAXD];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int h = blockIdx.y, b = blockIdx.z;
    const int kj = blockIdx.x * WARPS + warp;
    const int offset = kvLen - qLen;
    const long rowStride = (long)heads * D;
    const bool active = kj < kvLen;
    const int first = max(0, kj - offset);                       // first query that sees this key
    const int blockFirst = max(0, blockIdx.x * WARPS - offset);

    if (active) {
        long src = ((long)b * kvLen + kj) * rowStride + (long)h * D;
        for (int d = lane; d < D; d += 32) { Kw[warp][d] = k[src + d]; Vw[warp][d] = v[src + d]; }
    }
    float accK[PER_LANE], accV[PER_LANE];
#pragma unroll
    for (int t = 0; t < PER_LANE; t++) { accK[t] = 0.0f; accV[t] = 0.0f; }

    for (int i0 = blockFirst; i0 < qLen; i0 += KT) {
        __syncthreads();
        for (int e = threadIdx.x; e < KT * D; e += blockDim.x) {
            int i = e / D, d = e - i * D, qi = i0 + i;
            float qv = 0.0f, gv = 0.0f;
            if (qi < qLen) {
                long src = ((long)b * qLen + qi) * rowStride + (long)h * D + d;
                qv = q[src];
                gv = dout[src];
            }
            Qs[i][d] = qv;
            Gs[i][d] = gv;
        }
        if (threadIdx.x < KT) {
            int qi = i0 + threadIdx.x;
            long li = ((long)b * heads + h) * qLen + qi;
            Ls[threadIdx.x] = qi < qLen ? lse[li] : 0.0f;
            Ds[threadIdx.x] = qi < qLen ? delta[li] : 0.0f;
        }
        __syncthreads();
        if (!active || i0 + KT <= first) continue;
        int qi = i0 + lane;
        float p = 0.0f, ds = 0.0f;
        if (qi < qLen && qi >= first) {
            float dot = 0.0f, dp = 0.0f;
            for (int d = 0; d < D; d++) {
                dot = fmaf(Qs[lane][d], Kw[warp][d], dot);
                dp = fmaf(Gs[lane][d], Vw[warp][d], dp);
            }
            p = expf(dot * scale - Ls[lane]);
            ds = p * (dp - Ds[lane]);
        }
        for (int ii = 0; ii < KT; ii++) {
            float pi = __shfl_sync(0xffffffffu, p, ii);
            float dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
            for (int t = 0; t < PER_LANE; t++) {
                int d = lane + 32 * t;
                if (d < D) {
                    accV[t] = fmaf(pi, Gs[ii][d], accV[t]);
                    accK[t] = fmaf(dsi, Qs[ii][d], accK[t]);
                }
            }
        }
    }
    if (active) {
        long o = ((long)b * kvLen + kj) * rowStride + (long)h * D;
#pragma unroll
        for (int t = 0; t < PER_LANE; t++) {
            int d = lane + 32 * t;
            if (d < D) { dk[o + d] = accK[t] * scale; dv[o + d] = accV[t]; }
        }
    }
}
