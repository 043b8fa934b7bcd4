// Ternary matrix-vector product on tensor cores, for a few activation rows (decode, small batches):
// y[m, rows] = x[m, cols] (gamma T)^T (+ y), m <= 4. Needs sm_80 or later (mma.sync m16n8k16 with f16
// inputs); CudaBackend compiles and uses it only there, elsewhere the tiled kernel serves.
//
// Why tensor cores for a memory-bound product: at 2 bits per weight an H100 must retire ~50 weights per
// clock per SM to keep up with DRAM, and on CUDA cores each weight costs a decode and an add (about four
// instructions), which caps the kernel far below the bandwidth. Here a weight costs about one instruction:
// the packing (ternary_layout.h) puts each lane's 16 weights of a 16x32 block in one word, already in
// m16n8k16 A-fragment order, with codes t + 1; one LOP3 turns two codes into the f16 pair (1024 + c·4^p)
// and one HFMA2 turns that into t exactly; the MMA does the multiply-adds, accumulating in f32.
//
// f32 accuracy with f16 inputs: each activation row i is scaled by a power of two s_i (its largest value
// lands in [2^14, 2^15)) and split into hi = f16(x s_i) and lo = f16(x s_i - hi); hi and lo are two
// columns (n = 2i, 2i+1) of the MMA's B operand, so one MMA yields both partial products and
// y = (D[:, 2i] + D[:, 2i+1]) / s_i carries about 22 bits of each activation. T is exact in f16.
//
// Work split: a block of 8 warps takes a 16-row tile at a time (blocks loop over tiles, so x is staged in
// shared memory once per block); the warps split the columns (warp w takes 32-column blocks w, w+8, ...),
// and their partial D fragments meet through shared memory at the end of the tile.

#include "ternary_layout.h"

#define WARPS 8
#define UNROLL 16               // 32-column blocks whose loads a warp issues before using the first: bytes in flight

__device__ __forceinline__ unsigned short f32_to_f16(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float f16_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ unsigned pair(unsigned short lo, unsigned short hi) {
    return (unsigned)lo | ((unsigned)hi << 16);
}

__device__ __forceinline__ unsigned hfma2(unsigned a, unsigned b, unsigned c) {
    unsigned d;
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// (a & b) | c in one LOP3: written out because with two immediate constants the compiler emits two.
__device__ __forceinline__ unsigned and_or(unsigned a, unsigned b, unsigned c) {
    unsigned d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

__device__ __forceinline__ void mma16816(float* d, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// gamma of column c's shard, floor(c * shards / cols): in double, exact here (c * shards < 2^53, and a
// quotient just below an integer stays below it), and cheaper than a 64-bit integer division.
__device__ __forceinline__ float col_gamma(const float* gammas, int shards, int cols, int c) {
    return gammas[(int)floor((double)c * shards / cols)];
}

__device__ float block_max_abs(float v, float* partial) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float m = 0.0f;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) m = fmaxf(m, partial[i]);
    return m;
}

// A power of two s with max * s in [2^14, 2^15) (1 for max = 0), kept inside the normal float range.
__device__ float split_scale(float largest) {
    if (largest == 0.0f) return 1.0f;
    int e = (int)((__float_as_uint(largest) >> 23) & 0xff) - 127;  // floor(log2 largest) for a normal value
    int s = 14 - e;
    s = max(-126, min(127, s));
    return __uint_as_float((unsigned)(s + 127) << 23);
}

extern "C" __global__ void __launch_bounds__(256) tern_gemv_mma(
        const unsigned* __restrict__ w, int rows, int cols, int kcCount, const float* __restrict__ gammas,
        int shards, int axis, const float* __restrict__ x, int m, float* y, int accumulate) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ float partial[WARPS];
    __shared__ float scale[4];
    __shared__ float red[WARPS][32][4];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // x is staged for every column block the warps' batches touch (zeros past the matrix), so the loop
    // reads it without bounds checks: perTile batches of WARPS x UNROLL blocks of 32 columns.
    const int perTile = (kcCount + WARPS * UNROLL - 1) / (WARPS * UNROLL);
    const int colsPad = perTile * WARPS * UNROLL * 32;
    const int stride = colsPad + 8;          // halves per B column: +8 halves keeps fragment loads conflict-free
    unsigned short* xs = (unsigned short*)smem;   // [2m][stride]: column 2i = hi of row i, 2i + 1 = lo

    // Stage x: scale each row by a power of two, split into hi + lo f16 (COLS shards: gamma folded in first).
    // Both passes read x with 16-byte loads, several in flight per thread: this staging is a block's
    // start-up latency, and with one-element loads it cost more than the weight stream at 16384 columns.
    const bool vec = (cols & 3) == 0 && (((unsigned long long)x) & 15) == 0;
    for (int i = 0; i < m; i++) {
        const float* xr = x + (long)i * cols;
        float mx = 0.0f;
        if (vec) {
            const float4* x4 = (const float4*)xr;
            const int n4 = cols >> 2;
            for (int c4 = threadIdx.x; c4 < n4; c4 += 4 * blockDim.x) {
                float4 v[4];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    int j = c4 + u * blockDim.x;
                    v[u] = j < n4 ? __ldg(x4 + j) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                }
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    int c = 4 * (c4 + u * blockDim.x);
                    float e[4] = {v[u].x, v[u].y, v[u].z, v[u].w};
#pragma unroll
                    for (int t = 0; t < 4; t++) mx = fmaxf(mx, fabsf(axis == 1 && c + t < cols ? e[t] * col_gamma(gammas, shards, cols, c + t) : e[t]));
                }
            }
        } else {
            for (int c = threadIdx.x; c < cols; c += blockDim.x) {
                float v = xr[c];
                if (axis == 1) v *= col_gamma(gammas, shards, cols, c);
                mx = fmaxf(mx, fabsf(v));
            }
        }
        mx = block_max_abs(mx, partial);
        if (threadIdx.x == 0) scale[i] = split_scale(mx);
    }
    __syncthreads();
    for (int i = 0; i < m; i++) {
        const float* xr = x + (long)i * cols;
        const float s = scale[i];
        unsigned short* hiRow = xs + (2 * i) * stride;
        unsigned short* loRow = xs + (2 * i + 1) * stride;
        // Four columns per step (colsPad is a multiple of 32): hi and lo go out as 8-byte stores.
        for (int c0 = 4 * threadIdx.x; c0 < colsPad; c0 += 4 * blockDim.x) {
            float v[4];
            if (vec && c0 + 3 < cols) {
                float4 q = __ldg((const float4*)(xr + c0));
                v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
            } else {
#pragma unroll
                for (int t = 0; t < 4; t++) v[t] = c0 + t < cols ? xr[c0 + t] : 0.0f;
            }
            unsigned short hi[4], lo[4];
#pragma unroll
            for (int t = 0; t < 4; t++) {
                float e = v[t];
                if (axis == 1 && c0 + t < cols) e *= col_gamma(gammas, shards, cols, c0 + t);
                e *= s;
                hi[t] = f32_to_f16(e);
                lo[t] = f32_to_f16(e - f16_to_f32(hi[t]));
            }
            *(uint2*)(hiRow + c0) = make_uint2(pair(hi[0], hi[1]), pair(hi[2], hi[3]));
            *(uint2*)(loRow + c0) = make_uint2(pair(lo[0], lo[1]), pair(lo[2], lo[3]));
        }
    }
    __syncthreads();

    // Per pair p (of 4 per half-word): t = (1024 + c 4^p) 4^-p - (1024 4^-p + 1), exactly, in f16.
    unsigned mul[4], add[4];
#pragma unroll
    for (int p = 0; p < 4; p++) {
        float s = 1.0f / (float)(1 << (2 * p));
        unsigned short hs = f32_to_f16(s), hb = f32_to_f16(-(1024.0f * s + 1.0f));
        mul[p] = pair(hs, hs);
        add[p] = pair(hb, hb);
    }
    const int n = lane >> 2;                  // this lane's B column
    const int k0 = 2 * (lane & 3);
    // Lanes whose column is unused (n >= 2m) read column 0: column n of B only reaches column n of D,
    // which nobody reads, so no mask, branch or predicate is needed.
    const unsigned* xb = (const unsigned*)(xs + (n < 2 * m ? n : 0) * stride) + (k0 >> 1);   // half2 (k0, k0+1)
    unsigned mask[4], magic;
#pragma unroll
    for (int q = 0; q < 4; q++) mask[q] = 0x00030003u << (2 * q);
    magic = 0x64006400u;

    // The warp's work is a list of batches, UNROLL column blocks each, tile after tile (every warp has the
    // same count, so the per-tile barriers line up). Double-buffered: the loads of batch b + 1 are issued
    // before batch b is decoded and multiplied, so the memory latency hides behind the math, also across
    // the reduction at a tile's end. Column blocks past the matrix load the padding word (t = 0) and read
    // the last block's x: no bounds branches in the loop (profiling showed the branches and index
    // arithmetic, not the loads or the MMAs, bounding this kernel).
    const int rowTiles = (rows + 15) / 16;
    const int myTiles = blockIdx.x < rowTiles ? (rowTiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
    const int batches = myTiles * perTile;
    const int lastKc = kcCount - 1;

    int ldTile = blockIdx.x, ldKc0 = warp, ldInTile = 0;          // the next batch to load
    auto load = [&](unsigned* dst) {
        const unsigned* wt = w + (long)ldTile * kcCount * 32 + lane;
        if (ldKc0 + (UNROLL - 1) * WARPS < kcCount) {             // the whole batch inside the matrix
#pragma unroll
            for (int u = 0; u < UNROLL; u++) dst[u] = __ldg(wt + (ldKc0 + u * WARPS) * 32);
        } else {
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                int kc = ldKc0 + u * WARPS;
                unsigned v = __ldg(wt + min(kc, lastKc) * 32);
                dst[u] = kc < kcCount ? v : 0x55555555u;          // code 1 everywhere: t = 0
            }
        }
        ldKc0 += WARPS * UNROLL;
        if (++ldInTile == perTile) { ldInTile = 0; ldKc0 = warp; ldTile += gridDim.x; }
    };

    float d0[4] = {0.0f, 0.0f, 0.0f, 0.0f}, d1[4] = {0.0f, 0.0f, 0.0f, 0.0f};   // k-tiles 0 and 1: two MMA chains
    int prTile = blockIdx.x, prKc0 = warp, prInTile = 0;          // the batch being multiplied
    auto process = [&](const unsigned* words) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const unsigned* xk = xb + (prKc0 + u * WARPS) * 16;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                unsigned bits = h == 0 ? words[u] : words[u] >> 8;
                unsigned a[4];
#pragma unroll
                for (int q = 0; q < 4; q++)
                    a[q] = hfma2(and_or(bits, mask[q], magic), mul[q], add[q]);
                unsigned b0 = xk[8 * h], b1 = xk[8 * h + 4];
                mma16816(h == 0 ? d0 : d1, a[0], a[1], a[2], a[3], b0, b1);
            }
        }
        prKc0 += WARPS * UNROLL;
        if (++prInTile < perTile) return;

        // Tile done. d: row g, columns 2 tig (hi) and 2 tig + 1 (lo) in [0], [1]; row g + 8 in [2], [3].
#pragma unroll
        for (int j = 0; j < 4; j++) {
            red[warp][lane][j] = d0[j] + d1[j];
            d0[j] = 0.0f;
            d1[j] = 0.0f;
        }
        __syncthreads();
        if (warp == 0) {
            float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int v = 0; v < WARPS; v++)
#pragma unroll
                for (int j = 0; j < 4; j++) s[j] += red[v][lane][j];
            int i = lane & 3, g = lane >> 2;
            if (i < m) {
                float inv = 1.0f / scale[i];
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    int r = prTile * 16 + g + 8 * half;
                    if (r < rows) {
                        float val = (s[2 * half] + s[2 * half + 1]) * inv;
                        if (axis == 0) val *= gammas[(int)((long)r * shards / rows)];
                        long o = (long)i * rows + r;
                        y[o] = accumulate ? y[o] + val : val;
                    }
                }
            }
        }
        __syncthreads();
        prInTile = 0;
        prKc0 = warp;
        prTile += gridDim.x;
    };

    unsigned bufA[UNROLL], bufB[UNROLL];
    if (batches > 0) load(bufA);
    for (int b = 0; b < batches; b += 2) {
        if (b + 1 < batches) load(bufB);
        process(bufA);
        if (b + 1 >= batches) break;
        if (b + 2 < batches) load(bufA);
        process(bufB);
    }
}
