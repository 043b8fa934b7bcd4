// Packed ternary matrix-vector product for decode: y[m, rows] = x[m, cols] (gamma T)^T (+ y), m = 1..4,
// on the CUDA backend's 2-bit packing (ternary_layout.h), split along K so that every block stages only
// its own slice of x. Launched by PackedGemv.java. Needs sm_80 (mma.sync m16n8k16 with f16 inputs).
//
// Why split-K: tern_gemv_mma / tern_gemv_imma (ternary_mma.cu) stage the whole of x in every block
// (64 KiB at 16384 columns), which caps them at 2-3 blocks per SM and puts a long staging latency before
// the weight stream starts; at 16384^2 they reach about half the copy bandwidth. Here a block of 8 warps
// takes 8 row tiles of 16 rows and one K slice (8..64 column blocks of 32): it stages only that slice
// (hi/lo f16, at most 8 KiB per x row), so many blocks fit per SM and every lane keeps a chunk of
// independent word loads in flight. The K slices of a row tile meet in a fixed order: each block writes
// its partial sums, and the block that finishes a tile group last (an atomic ticket) adds the slices in
// slice order and writes y, so the result has the same bits on every run (no float atomics) and one
// launch does it all (no second reduction kernel: launch count matters in a decode step).
//
// Fusions for a decode step (each saves a kernel, and in a captured step a kernel costs its latency):
// blockIdx.z picks one of up to three matrices of the same shape that read the same x (q, k, v; gate, up),
// and the staging may transform x on the way in: mode 1 is RMSNorm (each block sums x^2 over the whole
// row, then stages x r w as rmsnorm.cu rmsnorm_fwd computes it), mode 2 is SwiGLU (x = silu(gate) up, with
// up the second input, as swiglu.cu swiglu_fwd).
//
// Decoding (as ternary_mma.cu): the word of lane l holds its 16 weights in m16n8k16 A-fragment order with
// codes c = t + 1; one LOP3 makes the f16 pair (1024 + c 4^q) of two codes and one HFMA2 turns it into t
// exactly. x row i is scaled by a power of two s (the slice's largest |x| lands in [2^14, 2^15)) and split
// into hi = f16(x s) and lo = f16(x s - hi), B columns 2i and 2i + 1: the MMA's f32 sums carry about
// 22 bits of every activation. Partial sums are divided by s (exact) before slices are added.

#define PG_WARPS 8
#define PG_CHUNK 8              // column blocks whose word loads a lane issues before decoding the first
                                // (kbPerSlice is a multiple of it: the staged x covers every block read)

#include "mma_f16.h"

// Shard of index i among `shards` over `extent`: floor(i * shards / extent), as TernaryWeights.shardOf.
__device__ __forceinline__ int pg_shard(int i, int shards, int extent) {
    return (int)((long long)i * shards / extent);
}

// Programmatic dependent launch (sm_90; no-ops when launched without it): the next kernel may start at
// once, and this one requests its first weights before waiting for the previous kernel's output.
__device__ __forceinline__ void pg_pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

__device__ __forceinline__ void pg_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Largest |v| over the block, returned to every thread (red: PG_WARPS floats of shared memory).
__device__ float pg_block_max(float v, float* red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();                          // red may still be read from the previous row
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float m = 0.0f;
#pragma unroll
    for (int i = 0; i < PG_WARPS; i++) m = fmaxf(m, red[i]);
    return m;
}

// A power of two s with largest * s in [2^14, 2^15) (1 for 0), kept inside the normal float range.
__device__ __forceinline__ float pg_split_scale(float largest) {
    if (largest == 0.0f) return 1.0f;
    int e = (int)((__float_as_uint(largest) >> 23) & 0xff) - 127;
    int s = max(-126, min(127, 14 - e));
    return __uint_as_float((unsigned)(s + 127) << 23);
}

// Grid: x = tile groups (PG_WARPS row tiles each), y = K slices of kbPerSlice column blocks; PG_WARPS * 32
// threads; dynamic shared memory 2 M (32 kbPerSlice + 8) halves. partial: slices * M * rowTiles * 16
// floats; counters: gridDim.x zeros (left zero again by the last block of each group).
// Sum of v over the block, returned to every thread.
__device__ float pg_block_sum(float v, float* red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.0f;
#pragma unroll
    for (int i = 0; i < PG_WARPS; i++) t += red[i];
    return t;
}

__device__ __forceinline__ float pg_sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

// The staged activation (before the COLS gamma): x, RMSNorm(x) (r: the row's 1 / rms), or silu(x) up.
__device__ __forceinline__ float pg_input(const float* xr, const float* upr, const float* norm, float r, int mode, int col) {
    float v = xr[col];
    if (mode == 1) return v * r * norm[col];
    if (mode == 2) return v * pg_sigmoid(v) * upr[col];
    return v;
}

template <int M>
__device__ __forceinline__ void packed_gemv(const unsigned* __restrict__ w0, const unsigned* __restrict__ w1,
        const unsigned* __restrict__ w2, const float* __restrict__ g0, const float* __restrict__ g1,
        const float* __restrict__ g2, float* y0, float* y1, float* y2, int rows, int cols, int kcCount, int shards,
        int axis, const float* __restrict__ x, const float* __restrict__ up, const float* __restrict__ norm, float eps,
        int mode, int accumulate, int kbPerSlice, float* __restrict__ partial, unsigned* counters) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ float red[PG_WARPS];
    __shared__ float inverse[M];
    __shared__ int last;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int slice = blockIdx.y, slices = gridDim.y, z = blockIdx.z;
    const unsigned* __restrict__ w = z == 0 ? w0 : (z == 1 ? w1 : w2);
    const float* __restrict__ gammas = z == 0 ? g0 : (z == 1 ? g1 : g2);
    float* y = z == 0 ? y0 : (z == 1 ? y1 : y2);
    const int kc0 = slice * kbPerSlice;
    const int blocksHere = min(kcCount, kc0 + kbPerSlice) - kc0;
    const int sliceCols = kbPerSlice * 32, c0 = kc0 * 32;
    const int stride = sliceCols + 8;        // halves per staged row: +8 keeps the fragment reads conflict-free
    unsigned short* xs = (unsigned short*)smem;
    const int rowTiles = (rows + 15) >> 4, rowsPad = rowTiles * 16;
    const int tile = blockIdx.x * PG_WARPS + warp;
    const bool active = tile < rowTiles;
    const unsigned* wt = w + ((long long)(active ? tile : 0) * kcCount + kc0) * 32 + lane;
    // The first chunk of words is requested before the staging, so the weight stream starts at once; later
    // chunks are requested one ahead of the chunk being decoded (padding code 1, t = 0, past the last block).
    unsigned cur[PG_CHUNK], nxt[PG_CHUNK];
    pg_pdl_trigger();
#pragma unroll
    for (int u = 0; u < PG_CHUNK; u++) cur[u] = active && u < blocksHere ? __ldg(wt + (long long)u * 32) : 0x55555555u;
    partial += (long long)z * slices * M * rowsPad;
    counters += z * gridDim.x;
    pg_pdl_wait();                               // x, y, partial and counters belong to the previous kernels until here

    // Stage this slice of x: per row, the power-of-two scale of its largest |x| (COLS shards: gamma folded
    // in first), then hi and lo halves; zeros past the matrix.
    for (int i = 0; i < M; i++) {
        const float* xr = x + (long long)i * cols;
        const float* upr = mode == 2 ? up + (long long)i * cols : xr;
        float r = 0.0f;
        if (mode == 1) {                           // RMSNorm: the whole row's mean square, as rmsnorm_fwd
            float ss = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) ss = fmaf(xr[c], xr[c], ss);
            r = 1.0f / sqrtf(pg_block_sum(ss, red) / cols + eps);
        }
        float mx = 0.0f;
        for (int c = threadIdx.x; c < sliceCols; c += blockDim.x) {
            int col = c0 + c;
            if (col < cols) {
                float v = pg_input(xr, upr, norm, r, mode, col);
                if (axis == 1) v *= gammas[pg_shard(col, shards, cols)];
                mx = fmaxf(mx, fabsf(v));
            }
        }
        const float s = pg_split_scale(pg_block_max(mx, red));
        if (threadIdx.x == 0) inverse[i] = 1.0f / s;
        for (int c = threadIdx.x; c < sliceCols; c += blockDim.x) {
            int col = c0 + c;
            float v = 0.0f;
            if (col < cols) {
                v = pg_input(xr, upr, norm, r, mode, col);
                if (axis == 1) v *= gammas[pg_shard(col, shards, cols)];
            }
            v *= s;
            unsigned short hi = f32_to_f16(v);
            xs[(2 * i) * stride + c] = hi;
            xs[(2 * i + 1) * stride + c] = f32_to_f16(v - f16_to_f32(hi));
        }
    }
    __syncthreads();

    const int g = lane >> 2, tig = lane & 3;
    if (active) {
        unsigned mul[4], add[4], mask[4];
        ternary_f16_decode_constants(mul, add, mask);
        const unsigned magic = 0x64006400u;
        // B column n = g: hi (even) or lo (odd) of x row n / 2; lanes past 2M read row 0 into D columns
        // nobody reads, so no branch is needed.
        const unsigned* xb = (const unsigned*)(xs + (g < 2 * M ? g : 0) * stride) + tig;
        float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int j0 = 0; j0 < blocksHere; j0 += PG_CHUNK) {
#pragma unroll
            for (int u = 0; u < PG_CHUNK; u++) {
                int j = j0 + PG_CHUNK + u;
                nxt[u] = j < blocksHere ? __ldg(wt + (long long)j * 32) : 0x55555555u;
            }
#pragma unroll
            for (int u = 0; u < PG_CHUNK; u++) {
                const int j = j0 + u;
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    unsigned ws = h ? cur[u] >> 8 : cur[u];
                    unsigned a0 = hfma2(and_or(ws, mask[0], magic), mul[0], add[0]);
                    unsigned a1 = hfma2(and_or(ws, mask[1], magic), mul[1], add[1]);
                    unsigned a2 = hfma2(and_or(ws, mask[2], magic), mul[2], add[2]);
                    unsigned a3 = hfma2(and_or(ws, mask[3], magic), mul[3], add[3]);
                    mma16816(d, a0, a1, a2, a3, xb[16 * j + 8 * h], xb[16 * j + 8 * h + 4]);
                }
            }
#pragma unroll
            for (int u = 0; u < PG_CHUNK; u++) cur[u] = nxt[u];
        }
        // D columns 2 tig and 2 tig + 1 are hi and lo of x row tig: lanes tig < M hold rows g and g + 8.
        if (tig < M) {
            float inv = inverse[tig];
            float* pr = partial + ((long long)slice * M + tig) * rowsPad + tile * 16;
            pr[g] = (d[0] + d[1]) * inv;
            pr[g + 8] = (d[2] + d[3]) * inv;
        }
    }

    // The last block of this tile group to finish adds the slices in order and writes y.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&counters[blockIdx.x], 1u) == (unsigned)(slices - 1);
    __syncthreads();
    if (!last) return;
    __threadfence();
    const int groupRows = PG_WARPS * 16;
    for (int e = threadIdx.x; e < M * groupRows; e += blockDim.x) {
        int i = e / groupRows;
        int r = blockIdx.x * groupRows + (e - i * groupRows);
        if (r >= rows) continue;
        float sum = 0.0f;
        for (int s = 0; s < slices; s++) sum += __ldcg(partial + ((long long)s * M + i) * rowsPad + r);
        float v = axis == 0 ? gammas[pg_shard(r, shards, rows)] * sum : sum;
        float* yr = y + (long long)i * rows + r;
        *yr = accumulate ? *yr + v : v;
    }
    if (threadIdx.x == 0) counters[blockIdx.x] = 0u;
}

// Grid z = the matrices (1..3): w, gammas (their per-shard scales) and y per matrix; partial and counters
// hold one region per matrix. mode 0: x as is; 1: RMSNorm(x) with gains norm and eps; 2: silu(x) * up.
#define PG_KERNEL(M)                                                                                          \
    extern "C" __global__ void __launch_bounds__(PG_WARPS * 32) packed_gemv##M(                               \
            const unsigned* w0, const unsigned* w1, const unsigned* w2, const float* g0, const float* g1,     \
            const float* g2, float* y0, float* y1, float* y2, int rows, int cols, int kcCount, int shards,    \
            int axis, const float* x, const float* up, const float* norm, float eps, int mode, int accumulate, \
            int kbPerSlice, float* partial, unsigned* counters) {                                             \
        packed_gemv<M>(w0, w1, w2, g0, g1, g2, y0, y1, y2, rows, cols, kcCount, shards, axis, x, up, norm, eps, \
                       mode, accumulate, kbPerSlice, partial, counters);                                      \
    }

PG_KERNEL(1)
PG_KERNEL(2)
PG_KERNEL(3)
PG_KERNEL(4)
