// The kernels of a captured decode step (CudaGraphDecodeStep.java) that read what changes from step to step
// from device memory: token ids, positions and KV-cache addresses live in a small input block the host
// rewrites before each replay, so one CUDA graph serves every step. Valid for sm_70 and later.
//
// Input block per step (rows = sequences in the batch): int tokens[rows], int positions[rows], then
// 8-byte aligned long long keys[layers][rows], values[layers][rows]: each row's KV cache of one layer,
// [capacity, heads * headDim] f32, as KvCache keeps it.

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// out[b] = table[tokens[b]]; one block per row.
extern "C" __global__ void dec_embed(const float* __restrict__ table, const int* __restrict__ tokens, int dim,
                                     float* __restrict__ out) {
    const float* src = table + (long long)tokens[blockIdx.x] * dim;
    float* dst = out + (long long)blockIdx.x * dim;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) dst[d] = src[d];
}

// RoPE of row b's q (in place) and k at its position (the rotation of rope.cu rope_f32, from the same
// table), the rotated k and v written into row b's caches at that position. One block per row.
extern "C" __global__ void dec_rope_kv(float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                       const float2* __restrict__ table, const int* __restrict__ positions,
                                       const long long* __restrict__ keys, const long long* __restrict__ values,
                                       int heads, int headDim) {
    const int b = blockIdx.x, half = headDim / 2, width = heads * headDim;
    const int pos = positions[b];
    float* qr = q + (long long)b * width;
    const float* kr = k + (long long)b * width;
    const float* vr = v + (long long)b * width;
    float* kc = (float*)keys[b] + (long long)pos * width;
    float* vc = (float*)values[b] + (long long)pos * width;
    for (int t = threadIdx.x; t < heads * half; t += blockDim.x) {
        int h = t / half, i = t - h * half;
        float2 cs = table[(long long)pos * half + i];
        int base = h * headDim;
        float a = qr[base + i], c = qr[base + i + half];
        qr[base + i] = a * cs.x - c * cs.y;
        qr[base + i + half] = c * cs.x + a * cs.y;
        a = kr[base + i];
        c = kr[base + i + half];
        kc[base + i] = a * cs.x - c * cs.y;
        kc[base + i + half] = c * cs.x + a * cs.y;
    }
    for (int d = threadIdx.x; d < width; d += blockDim.x) vc[d] = vr[d];
}

// Programmatic dependent launch (sm_90): a kernel launched with it may start while the previous one
// finishes; griddepcontrol.wait holds it until that kernel's memory is visible. Launched without it, or
// below sm_90, both are no-ops.
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

#define DA_WARPS 8
#define DA_KEYS 4                        // keys per warp, loaded together
#define DA_SPLIT (DA_WARPS * DA_KEYS)    // keys per block
#define DA_MAXD 128
#define DA_PER_LANE (DA_MAXD / 32)

// Rows j0 .. j0 + DA_KEYS - 1 of one head's cache (dimensions lane + 32 t), all loads issued before any is
// used; zeros past kvLen or the head dimension.
__device__ __forceinline__ void da_load_rows(float (&out)[DA_KEYS][DA_PER_LANE], const float* cache, int j0, int kvLen,
                                             int width, int headDim, int lane) {
#pragma unroll
    for (int u = 0; u < DA_KEYS; u++)
#pragma unroll
        for (int t = 0; t < DA_PER_LANE; t++) {
            int d = lane + 32 * t;
            out[u][t] = j0 + u < kvLen && d < headDim ? cache[(long long)(j0 + u) * width + d] : 0.0f;
        }
}

// Decode attention split along the keys (grid heads x rows x splits, splits = ceil(context / DA_SPLIT)):
// block s of (head h, row b) takes keys [32 s, 32 s + 32) of 0 .. positions[b] (blocks past the row's
// length exit at once, so one grid serves every position), each warp four keys whose loads are issued
// together; lane l holds dimensions l + 32 t. A block writes its (max, sum, weighted values) to partial;
// the last block of (h, b) to finish (a ticket) combines the splits in split order, so the bits do not
// depend on timing. With rope = 1 every block rotates q itself (same table, same bits) and the block
// holding the current position first writes the rotated k and v into the caches (it is the only block
// reading that key): RoPE and the cache write need no kernel of their own.
// partial: rows * heads * splits * (DA_MAXD + 2) floats; tickets: rows * heads zeros (left zero again).
extern "C" __global__ void __launch_bounds__(DA_WARPS * 32) dec_attention(
        const float* __restrict__ q, const long long* __restrict__ keys, const long long* __restrict__ values,
        const int* __restrict__ positions, int heads, int headDim, float scale, float* __restrict__ out,
        int rope, const float* __restrict__ k, const float* __restrict__ v, const float2* __restrict__ table,
        float* __restrict__ partial, unsigned* tickets) {
    __shared__ float wm[DA_WARPS], wl[DA_WARPS];
    __shared__ float wacc[DA_WARPS][DA_MAXD];
    __shared__ float qs[DA_MAXD];
    __shared__ int last;
    pdl_trigger();
    pdl_wait();
    const int h = blockIdx.x, b = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int width = heads * headDim, pos = positions[b], kvLen = pos + 1;
    const int active = (kvLen + DA_SPLIT - 1) / DA_SPLIT;
    if (split >= active) return;
    const int base = split * DA_SPLIT;
    float* kc = (float*)keys[b] + (long long)h * headDim;
    float* vc = (float*)values[b] + (long long)h * headDim;
    const long long at = (long long)b * width + h * headDim;
    const int half = headDim / 2;
    const bool writer = rope && pos >= base && pos < base + DA_SPLIT;
    if (rope) {
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            float2 cs = table[(long long)pos * half + i];
            float a = q[at + i], c = q[at + i + half];
            qs[i] = a * cs.x - c * cs.y;
            qs[i + half] = c * cs.x + a * cs.y;
            if (writer) {
                a = k[at + i];
                c = k[at + i + half];
                kc[(long long)pos * width + i] = a * cs.x - c * cs.y;
                kc[(long long)pos * width + i + half] = c * cs.x + a * cs.y;
            }
        }
        if (writer) for (int d = threadIdx.x; d < headDim; d += blockDim.x) vc[(long long)pos * width + d] = v[at + d];
    } else {
        for (int d = threadIdx.x; d < headDim; d += blockDim.x) qs[d] = q[at + d];
    }
    __syncthreads();                                // q, and the new key and value, visible to the whole block
    float qv[DA_PER_LANE];
#pragma unroll
    for (int t = 0; t < DA_PER_LANE; t++) qv[t] = lane + 32 * t < headDim ? qs[lane + 32 * t] : 0.0f;
    const int j0 = base + warp * DA_KEYS;
    float kf[DA_KEYS][DA_PER_LANE], s[DA_KEYS];
    da_load_rows(kf, kc, j0, kvLen, width, headDim, lane);
#pragma unroll
    for (int u = 0; u < DA_KEYS; u++) {
        float dot = 0.0f;
#pragma unroll
        for (int t = 0; t < DA_PER_LANE; t++) dot = fmaf(qv[t], kf[u][t], dot);
        s[u] = dot;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
#pragma unroll
        for (int u = 0; u < DA_KEYS; u++) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
    float mw = -INFINITY;
#pragma unroll
    for (int u = 0; u < DA_KEYS; u++) {
        s[u] = j0 + u < kvLen ? s[u] * scale : -INFINITY;
        mw = fmaxf(mw, s[u]);
    }
    float lw = 0.0f, acc[DA_PER_LANE];
#pragma unroll
    for (int t = 0; t < DA_PER_LANE; t++) acc[t] = 0.0f;
    if (mw != -INFINITY) {
        float vf[DA_KEYS][DA_PER_LANE], p[DA_KEYS];
        da_load_rows(vf, vc, j0, kvLen, width, headDim, lane);
#pragma unroll
        for (int u = 0; u < DA_KEYS; u++) {
            p[u] = s[u] == -INFINITY ? 0.0f : expf(s[u] - mw);
            lw += p[u];
        }
#pragma unroll
        for (int u = 0; u < DA_KEYS; u++)
#pragma unroll
            for (int t = 0; t < DA_PER_LANE; t++) acc[t] = fmaf(p[u], vf[u][t], acc[t]);
    }
    if (lane == 0) { wm[warp] = mw; wl[warp] = lw; }
#pragma unroll
    for (int t = 0; t < DA_PER_LANE; t++) wacc[warp][lane + 32 * t] = acc[t];
    __syncthreads();
    float m = -INFINITY;
    for (int w = 0; w < DA_WARPS; w++) m = fmaxf(m, wm[w]);
    const int stride = DA_MAXD + 2;
    float* mine = partial + ((long long)(b * heads + h) * splits + split) * stride;
    if (threadIdx.x == 0) {
        float l = 0.0f;
        for (int w = 0; w < DA_WARPS; w++) if (wm[w] != -INFINITY) l += wl[w] * expf(wm[w] - m);
        mine[0] = m;
        mine[1] = l;
    }
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < DA_WARPS; w++) if (wm[w] != -INFINITY) o += wacc[w][d] * expf(wm[w] - m);
        mine[2 + d] = o;
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&tickets[b * heads + h], 1u) == (unsigned)(active - 1);
    __syncthreads();
    if (!last) return;
    __threadfence();
    const float* all = partial + (long long)(b * heads + h) * splits * stride;
    float mx = -INFINITY;
    for (int t = 0; t < active; t++) mx = fmaxf(mx, __ldcg(all + (long long)t * stride));
    float total = 0.0f;
    for (int t = 0; t < active; t++) total += __ldcg(all + (long long)t * stride + 1) * expf(__ldcg(all + (long long)t * stride) - mx);
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float o = 0.0f;
        for (int t = 0; t < active; t++) o += __ldcg(all + (long long)t * stride + 2 + d) * expf(__ldcg(all + (long long)t * stride) - mx);
        out[at + d] = o / total;
    }
    if (threadIdx.x == 0) tickets[b * heads + h] = 0u;
}

#define DW_WARPS 16

// The attention the step uses by default (checked on the H200), one block per query: simple, but its warps
// walk the keys one dependent load after another, so it is latency-bound at a few hundred keys; the split
// dec_attention above is the opt-in replacement (-Dtern.cuda.attentionSplit=true), not yet run on a GPU.
// One query per row b and head h (grid heads x rows, DW_WARPS warps) against keys 0 .. positions[b] of its
// cache: warp w takes keys w, w + DW_WARPS, ... with an online softmax (lane l holds dimensions l + 32 t),
// then the warps' (max, sum, weighted values) are combined at the common max, in warp order.
// With rope = 1 the block first does dec_rope_kv's work for its own head (q rotated into shared memory,
// the rotated k and v written into the caches at the position), which the attention then reads: one kernel
// per layer fewer (keys of head h are read only by the blocks of head h).
extern "C" __global__ void __launch_bounds__(DW_WARPS * 32) dec_attention_whole(
        const float* __restrict__ q, const long long* __restrict__ keys, const long long* __restrict__ values,
        const int* __restrict__ positions, int heads, int headDim, float scale, float* __restrict__ out,
        int rope, const float* __restrict__ k, const float* __restrict__ v, const float2* __restrict__ table) {
    __shared__ float wm[DW_WARPS], wl[DW_WARPS];
    __shared__ float wacc[DW_WARPS][DA_MAXD];
    __shared__ float qs[DA_MAXD];
    pdl_trigger();
    pdl_wait();
    const int h = blockIdx.x, b = blockIdx.y;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int width = heads * headDim, pos = positions[b], kvLen = pos + 1;
    float* kc = (float*)keys[b] + (long long)h * headDim;
    float* vc = (float*)values[b] + (long long)h * headDim;
    const long long at = (long long)b * width + h * headDim;
    if (rope) {
        const int half = headDim / 2;
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            float2 cs = table[(long long)pos * half + i];
            float a = q[at + i], c = q[at + i + half];
            qs[i] = a * cs.x - c * cs.y;
            qs[i + half] = c * cs.x + a * cs.y;
            a = k[at + i];
            c = k[at + i + half];
            kc[(long long)pos * width + i] = a * cs.x - c * cs.y;
            kc[(long long)pos * width + i + half] = c * cs.x + a * cs.y;
        }
        for (int d = threadIdx.x; d < headDim; d += blockDim.x) vc[(long long)pos * width + d] = v[at + d];
    } else {
        for (int d = threadIdx.x; d < headDim; d += blockDim.x) qs[d] = q[at + d];
    }
    __syncthreads();                                // the new key and value are visible to the whole block
    float qv[DA_PER_LANE], acc[DA_PER_LANE];
#pragma unroll
    for (int t = 0; t < DA_PER_LANE; t++) {
        int d = lane + 32 * t;
        qv[t] = d < headDim ? qs[d] : 0.0f;
        acc[t] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int j = warp; j < kvLen; j += DW_WARPS) {
        const float* kj = kc + (long long)j * width;
        float dot = 0.0f;
#pragma unroll
        for (int t = 0; t < DA_PER_LANE; t++) {
            int d = lane + 32 * t;
            if (d < headDim) dot = fmaf(qv[t], kj[d], dot);
        }
        for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        float s = dot * scale;
        float mNew = fmaxf(m, s);
        float correction = expf(m - mNew);          // 0 on the first key (m = -inf)
        float p = expf(s - mNew);
        l = l * correction + p;
        const float* vj = vc + (long long)j * width;
#pragma unroll
        for (int t = 0; t < DA_PER_LANE; t++) {
            int d = lane + 32 * t;
            acc[t] = acc[t] * correction + (d < headDim ? p * vj[d] : 0.0f);
        }
        m = mNew;
    }
    if (lane == 0) { wm[warp] = m; wl[warp] = l; }
#pragma unroll
    for (int t = 0; t < DA_PER_LANE; t++) wacc[warp][lane + 32 * t] = acc[t];
    __syncthreads();
    float mx = -INFINITY;
    for (int w = 0; w < DW_WARPS; w++) mx = fmaxf(mx, wm[w]);
    float total = 0.0f;
    for (int w = 0; w < DW_WARPS; w++) total += wm[w] == -INFINITY ? 0.0f : wl[w] * expf(wm[w] - mx);
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < DW_WARPS; w++) if (wm[w] != -INFINITY) o += wacc[w][d] * expf(wm[w] - mx);
        out[at + d] = o / total;
    }
}

__device__ __forceinline__ float bf16_lo(unsigned u) { return __uint_as_float(u << 16); }
__device__ __forceinline__ float bf16_hi(unsigned u) { return __uint_as_float(u & 0xffff0000u); }

// The LM head y[i, r] = x[i, :] . W[r, :] for rows = vocabulary entries, one warp per entry, W as f32
// (bf16 = 0) or bf16 (bf16 = 1, halving the bytes streamed), x f32; m <= 4 rows of x. cols % 8 == 0 and
// 16-byte aligned rows (the launcher checks), so every lane reads 16 bytes of W at a time.
extern "C" __global__ void __launch_bounds__(256) dec_head(const void* __restrict__ wv, int bf16, const float* __restrict__ x,
                                                           int m, int rows, int cols, float* __restrict__ y) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= rows) return;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (bf16) {
        const uint4* w4 = (const uint4*)((const unsigned short*)wv + (long long)r * cols);
        const int n8 = cols >> 3;
        for (int c8 = lane; c8 < n8; c8 += 32) {
            uint4 u = __ldcs(w4 + c8);
            float wf[8] = {bf16_lo(u.x), bf16_hi(u.x), bf16_lo(u.y), bf16_hi(u.y),
                           bf16_lo(u.z), bf16_hi(u.z), bf16_lo(u.w), bf16_hi(u.w)};
            for (int i = 0; i < m; i++) {
                const float4* x4 = (const float4*)(x + (long long)i * cols) + 2 * c8;
                float4 a = __ldg(x4), b = __ldg(x4 + 1);
                acc[i] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w
                        + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z + wf[7] * b.w;
            }
        }
    } else {
        const float4* w4 = (const float4*)((const float*)wv + (long long)r * cols);
        const int n4 = cols >> 2;
        for (int c4 = lane; c4 < n4; c4 += 32) {
            float4 wf = __ldcs(w4 + c4);
            for (int i = 0; i < m; i++) {
                float4 a = __ldg((const float4*)(x + (long long)i * cols) + c4);
                acc[i] += wf.x * a.x + wf.y * a.y + wf.z * a.z + wf.w * a.w;
            }
        }
    }
    for (int i = 0; i < m; i++) {
        float v = acc[i];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) y[(long long)i * rows + r] = v;
    }
}

// dst = bf16(src), round to nearest even (NaN kept a NaN).
extern "C" __global__ void dec_to_bf16(const float* __restrict__ src, long long n, unsigned short* __restrict__ dst) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
        unsigned u = __float_as_uint(src[i]);
        unsigned short h = (u & 0x7fffffffu) > 0x7f800000u ? (unsigned short)((u >> 16) | 0x40)
                                                           : (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        dst[i] = h;
    }
}

// dst = src, n4 float4s: the device-to-device copy whose bandwidth the packed GEMV is measured against
// (a kernel, so it can be captured with the products it is compared with).
extern "C" __global__ void dec_copy(const float4* __restrict__ src, long long n4, float4* __restrict__ dst) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (long long)blockDim.x * gridDim.x)
        dst[i] = __ldcs(src + i);
}

// Synthetic weights for benchmarks of big shapes (no host RNG, no upload): out[i] = scale * (h % 3 - 1)
// (trits = 1) or scale * uniform [-1, 1) (trits = 0), h a 32-bit hash of (seed, i).
extern "C" __global__ void dec_random_fill(float* __restrict__ out, long long n, unsigned seed, int trits, float scale) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
        unsigned long long z = (unsigned long long)i + 0x9E3779B97F4A7C15ull * (seed + 1ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        unsigned h = (unsigned)((z ^ (z >> 31)) >> 32);
        out[i] = trits ? scale * (float)((int)(h % 3u) - 1) : scale * ((float)h * 4.6566128730773926e-10f - 1.0f);
    }
}
