// Causal softmax attention on tensor cores (sm_80+): flash-attention style, forward and backward. Scores
// are computed a 64x64 tile at a time with an online softmax, never as a T x T matrix; every product
// (Q·Kᵀ, P·V, dO·Vᵀ, dS·K, Pᵀ·dO, dSᵀ·Q) is mma.sync m16n8k16 with bf16 inputs and f32 accumulation.
// What is rounded to bf16: q, k, v, dout (once, by attn_to_bf16) and the probabilities P and score
// gradients dS before they enter a product (each a relative error <= 2^-8); softmax, lse, the row terms
// and all sums stay f32, and the backward's row term delta is taken with the rounded dout. attention.cu
// is the f32 path (sm_70, and where tests need 1e-5).
//
// Layout: attn_to_bf16 turns an f32 [batch * len, heads * D] tensor into bf16 [batch, heads, len, DP]
// (DP = D rounded up to 64 or 128, zeros beyond D), so a tile of a head is a dense block that cp.async
// can copy 16 bytes at a time with no bounds on d (attn_relayout_bf16 does the same from bf16 activations,
// without rounding). out, dq, dk, dv are written in the caller's layout as f32 or, with bf16 activations,
// bf16 (each kernel has an _f32 and a _bf16 instantiation; dtype.h); lse and delta are f32 [batch, heads, qLen]. Query i sees keys j <= i + (kvLen - qLen).
//
// Work split: blocks of 4 warps, each warp owns 16 rows of the block's 64 (queries in the forward and dq
// kernels, keys in the dk/dv kernel) and loops over 64-wide tiles of the other side, double-buffered in
// shared memory with cp.async (rows past the end are zero-filled, never read from memory). A warp's
// accumulator fragment of one product is reused, in registers, as the A operand of the next (the m16n8k16
// C layout of two adjacent 8-column tiles is the A layout of one 16-column tile). The dk/dv and dq
// kernels each recompute P: no atomics, so the gradients are deterministic.
//
// RoPE inside the attention (rope non-null, the (cos, sin) table of rope.cu's rope_table_f32, head dimension
// D = DP): q and k are rotated as rope.cu rotates them (rope.h), query i at position i + kvLen - qLen and key
// j at j, then rounded to bf16 once. With f32 inputs the staging copy rotates (attn_to_bf16 with a table).
// bf16 inputs read in place (natural) are rotated either by attn_rope_qk_bf16 (one launch for q and k,
// rope.cu's loop, bf16 copies in the caller's layout: TensorCoreAttention's default) or, with rotateLoads,
// by the kernels in shared memory after each tile lands: a block's query tile once, a key or query tile of
// the loop once per load (measured slower: the table loads and a barrier on every tile's critical path, and
// each key tile rotated by every query block). The backward kernels take the unrotated q and k the same way
// and apply the inverse rotation to the dq and dk accumulators before the store (the partner column
// d + D/2 of a fragment element is the same thread's, DP/16 tiles on), so dq and dk are the gradients of the
// unrotated inputs, rounded once.

#include "dtype.h"
#include "vec8.h"
#include "rope.h"

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

#define ROWS 64                  // rows per block: 4 warps x 16
#define COLS 64                  // width of the tiles a block loops over (forward, dq)
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

typedef unsigned short bf16_t;

// Two f32 values as a bf16 pair, lo in the low half (the lower column index of a fragment pair).
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    unsigned d;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
}

__device__ __forceinline__ void mma_bf16(float* d, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned smem_addr(const void* p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

__device__ __forceinline__ void ldsm_x4(unsigned* r, unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}

__device__ __forceinline__ void ldsm_x4_trans(unsigned* r, unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }

// The rows of head (b, h): in the staged layout [batch, heads, len, DP] (row stride DP), or, with natural, in
// the caller's own [batch * len, heads * DP] layout (row stride heads * DP): bf16 activations whose head
// dimension is DP are read where they are, without the staging copy (attn_relayout_bf16).
template <int DP>
__device__ __forceinline__ const bf16_t* head_rows(const bf16_t* x, int b, int h, int heads, int len, int natural) {
    return natural ? x + ((long)b * len * heads + h) * DP : x + ((long)b * heads + h) * len * DP;
}

// ldmatrix addresses for a 16x16 block at (row0, col0) of a tile with row stride S (bf16 elements).
// "A order": matrices (rows 0-7, cols 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15): the A fragment of
// m16n8k16 without .trans; with .trans, the B fragments (b0, b1) of the 8-column tiles col0 and col0 + 8
// of a row-major [k][n] block.
template <int S>
__device__ __forceinline__ unsigned addr_a_order(const bf16_t* tile, int row0, int col0, int lane) {
    return smem_addr(tile + (row0 + (lane & 7) + ((lane >> 3) & 1) * 8) * S + col0 + (lane >> 4) * 8);
}

// "B order": matrices (rows 0-7, cols 0-7), (0-7, 8-15), (8-15, 0-7), (8-15, 8-15): without .trans, the
// B fragments (b0, b1) of the 8-column tiles row0 and row0 + 8 of a row-major [n][k] block (n = row).
template <int S>
__device__ __forceinline__ unsigned addr_b_order(const bf16_t* tile, int row0, int col0, int lane) {
    return smem_addr(tile + (row0 + (lane & 7) + (lane >> 4) * 8) * S + col0 + ((lane >> 3) & 1) * 8);
}

// cp.async of rows [row0, row0 + R) of a head (len rows of DP, rs elements apart) into a tile of row stride S;
// rows >= len are zeros.
template <int DP, int S, int R>
__device__ __forceinline__ void load_tile(bf16_t* tile, const bf16_t* head, int row0, int len, int rs) {
    constexpr int CHUNKS = DP / 8;                      // 16-byte pieces per row
    for (int c = threadIdx.x; c < R * CHUNKS; c += blockDim.x) {
        int r = c / CHUNKS, piece = c - r * CHUNKS, row = row0 + r;
        const bf16_t* src = head + (long)min(row, len - 1) * rs + piece * 8;
        int bytes = row < len ? 16 : 0;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;"
                     :: "r"(smem_addr(tile + r * S + piece * 8)), "l"(src), "r"(bytes) : "memory");
    }
}

// The four A-fragment registers of a 16-row x 16-column slice (columns 16kk..16kk+15) of an f32
// accumulator held as 8-column tiles c[nt][4]: the C layout of tiles 2kk and 2kk+1 is the A layout.
__device__ __forceinline__ void acc_to_a(const float (*c)[4], int kk, unsigned* a) {
    a[0] = pack_bf16(c[2 * kk][0], c[2 * kk][1]);
    a[1] = pack_bf16(c[2 * kk][2], c[2 * kk][3]);
    a[2] = pack_bf16(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[3] = pack_bf16(c[2 * kk + 1][2], c[2 * kk + 1][3]);
}

// acc[16 x 8NT] += A[16 rows of a, DP] · B[8NT rows of b, DP]ᵀ, both tiles row-major with stride S.
template <int DP, int S, int NT>
__device__ __forceinline__ void mma_abt(float (*acc)[4], const bf16_t* a, int aRow0, const bf16_t* b, int lane) {
#pragma unroll
    for (int kc = 0; kc < DP / 16; kc++) {
        unsigned af[4];
        ldsm_x4(af, addr_a_order<S>(a, aRow0, kc * 16, lane));
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
            unsigned bf[4];
            ldsm_x4(bf, addr_b_order<S>(b, np * 16, kc * 16, lane));
            mma_bf16(acc[2 * np], af, bf[0], bf[1]);
            mma_bf16(acc[2 * np + 1], af, bf[2], bf[3]);
        }
    }
}

// acc[16 x DP] += P[16 x 8NT] (as f32 fragments, rounded to bf16 here) · B[8NT rows of b, DP].
template <int DP, int S, int NT>
__device__ __forceinline__ void mma_pb(float (*acc)[4], const float (*p)[4], const bf16_t* b, int lane) {
#pragma unroll
    for (int kk = 0; kk < NT / 2; kk++) {
        unsigned af[4];
        acc_to_a(p, kk, af);
#pragma unroll
        for (int dp = 0; dp < DP / 16; dp++) {
            unsigned bf[4];
            ldsm_x4_trans(bf, addr_a_order<S>(b, kk * 16, dp * 16, lane));
            mma_bf16(acc[2 * dp], af, bf[0], bf[1]);
            mma_bf16(acc[2 * dp + 1], af, bf[2], bf[3]);
        }
    }
}

// Writes a warp's 16 x DP f32 fragments times `scale` to rows [row0, row0 + 16) of an f32 [*, heads * D]
// tensor of `len` rows per batch: rows >= len and columns >= D are left alone.
template <int DP, typename O>
__device__ __forceinline__ void store_rows(O* dst, const float (*acc)[4], float scaleA, float scaleB,
                                           int b, int h, int heads, int D, int len, int row0, int lane) {
    const long stride = (long)heads * D;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int row = row0 + (lane >> 2) + half * 8;
        if (row >= len) continue;
        float s = half ? scaleB : scaleA;
        O* base = dst + ((long)b * len + row) * stride + (long)h * D;
#pragma unroll
        for (int nt = 0; nt < DP / 8; nt++) {
            int d = nt * 8 + 2 * (lane & 3);
            if (d < D) store(base + d, acc[nt][2 * half] * s);
            if (d + 1 < D) store(base + d + 1, acc[nt][2 * half + 1] * s);
        }
    }
}

// Element d of a row of a head (D = 2H values at x) rotated by RoPE at position pos (rope.h's arithmetic:
// the rotated pair's own output, the other not computed).
__device__ __forceinline__ float rope_element(float xd, float partner, const float2* rope, int pos, int d, int H) {
    float ra, rb;
    if (d < H) {
        rope_rotate(xd, partner, rope[(long)pos * H + d], 1.0f, &ra, &rb);
        return ra;
    }
    rope_rotate(partner, xd, rope[(long)pos * H + d - H], 1.0f, &ra, &rb);
    return rb;
}

// f32 [batch * len, heads * D] → bf16 [batch, heads, len, DP], zeros for d >= D; one thread per pair.
// Grid: x over len · DP/2 pairs of one head, y = b * heads + h (32-bit index math: DP/2 is 32 or 64).
// With rope (D = DP), row t is rotated at position pos0 + t first, in f32, and rounded once.
template <typename T>
__device__ __forceinline__ void attn_stage(const T* x, unsigned* out, int len, int heads, int D, int DP,
                                           const float2* rope, int pos0) {
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int shift = DP == 64 ? 5 : 6, pairs = DP >> 1;
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len * pairs) return;
    const int t = e >> shift, d = 2 * (e & (pairs - 1));
    const T* src = x + ((long)b * len + t) * heads * D + (long)h * D;
    float x0 = d < D ? load(src[d]) : 0.0f, x1 = d + 1 < D ? load(src[d + 1]) : 0.0f;
    if (rope) {
        const int H = D >> 1, p = d < H ? d + H : d - H;      // D = DP: both of the pair on one side of H
        x0 = rope_element(x0, load(src[p]), rope, pos0 + t, d, H);
        x1 = rope_element(x1, load(src[p + 1]), rope, pos0 + t, d + 1, H);
    }
    out[(long)bh * len * pairs + e] = pack_bf16(x0, x1);
}

extern "C" __global__ void attn_to_bf16(const float* x, unsigned* out, int len, int heads, int D, int DP,
                                        const float2* rope, int pos0) {
    attn_stage(x, out, len, heads, D, DP, rope, pos0);
}

// bf16 [batch * len, heads * D] → bf16 [batch, heads, len, DP], zeros for d >= D: attn_to_bf16 for
// activations already stored in bf16 (a copy, no rounding, unless rotated).
extern "C" __global__ void attn_relayout_bf16(const bf16* x, unsigned* out, int len, int heads, int D, int DP,
                                              const float2* rope, int pos0) {
    attn_stage(x, out, len, heads, D, DP, rope, pos0);
}

// q and k [rows, heads * D] rotated into qr and kr (positions row % seq) in one launch, blockIdx.y = 0 for q,
// 1 for k: rope_bf16 of each, bit for bit (rope.h).
extern "C" __global__ void attn_rope_qk_bf16(const bf16* q, const bf16* k, bf16* qr, bf16* kr, const float2* rope, int rows,
                                             int seq, int heads, int D) {
    const bool isK = blockIdx.y == 1;
    rope_impl(isK ? k : q, isK ? kr : qr, rope, rows, seq, heads, D, 0, 1.0f);
}

// Rotates rows [0, rows) of a bf16 tile (row stride S; natural layout, so D = DP) in place by RoPE, row r at
// position pos0 + r; rows past them (zeros past the end) are left alone. Eight pairs a thread, 16-byte
// shared loads; each pair's arithmetic is rope.cu's, and the result is rounded to bf16 as rope_bf16 stores it.
template <int DP, int S, int R>
__device__ __forceinline__ void rope_tile(bf16_t* tile, const float2* rope, int pos0, int rows) {
    constexpr int H = DP / 2, G = H / 8;
    for (int c = threadIdx.x; c < R * G; c += blockDim.x) {
        const int r = c / G, i = (c - r * G) * 8;
        if (r >= rows) continue;
        bf16_t* x = tile + r * S + i;
        uint4 lo = *(const uint4*)x, hi = *(const uint4*)(x + H);
        unsigned* a = (unsigned*)&lo;
        unsigned* b = (unsigned*)&hi;
        const float4* cs = (const float4*)(rope + (long)(pos0 + r) * H + i);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float4 c4 = cs[j];
            float a0, a1, b0, b1;
            rope_rotate(__uint_as_float(a[j] << 16), __uint_as_float(b[j] << 16), make_float2(c4.x, c4.y), 1.0f, &a0, &b0);
            rope_rotate(__uint_as_float(a[j] & 0xffff0000u), __uint_as_float(b[j] & 0xffff0000u), make_float2(c4.z, c4.w),
                        1.0f, &a1, &b1);
            a[j] = pack_bf16(a0, a1);
            b[j] = pack_bf16(b0, b1);
        }
        *(uint4*)x = lo;
        *(uint4*)(x + H) = hi;
    }
}

// The inverse rotation of a warp's 16 x DP accumulator (D = DP) after scaling it: the thread's rows at
// positions posA and posB (-1: a row past the end, left as it is). Column d = nt·8 + 2(lane & 3) + e pairs
// with d + DP/2, tile nt + DP/16 of the same thread.
template <int DP>
__device__ __forceinline__ void unrope_acc(float (*acc)[4], float scale, const float2* rope, int posA, int posB, int lane) {
    constexpr int H = DP / 2;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int pos = half ? posB : posA;
        if (pos < 0) continue;
#pragma unroll
        for (int nt = 0; nt < DP / 16; nt++) {
            const float4 c4 = *(const float4*)(rope + (long)pos * H + nt * 8 + 2 * (lane & 3));
#pragma unroll
            for (int e = 0; e < 2; e++) {
                float* lo = &acc[nt][2 * half + e];
                float* hi = &acc[nt + DP / 16][2 * half + e];
                rope_rotate(*lo * scale, *hi * scale, e ? make_float2(c4.z, c4.w) : make_float2(c4.x, c4.y), -1.0f, lo, hi);
            }
        }
    }
}

// delta[b, h, i] = Σ_d bf16(dout) · out, the softmax backward's row term, from the same rounded dout that
// enters dout·vᵀ (so Σ_j P_ij (dout_i·v_j − delta_i) is the exact row identity for the rounded inputs).
// One warp per row of g ([batch, heads, qLen, DP] bf16, or natural: [batch * qLen, heads * DP]).
template <typename O>
__device__ __forceinline__ void attn_delta(const bf16_t* g, const O* out, float* delta, int qLen, int heads, int D,
                                           int DP, long rows, int natural) {
    const long row = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);   // (b * heads + h) * qLen + i
    if (row >= rows) return;
    const int lane = threadIdx.x & 31;
    const int i = (int)(row % qLen);
    const long bh = row / qLen;
    const int h = (int)(bh % heads);
    const long b = bh / heads;
    const bf16_t* gr = natural ? g + ((b * qLen + i) * heads + h) * DP : g + row * DP;
    const O* o = out + (b * qLen + i) * heads * D + (long)h * D;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s = fmaf(__uint_as_float((unsigned)gr[d] << 16), load(o[d]), s);
    for (int sh = 16; sh > 0; sh >>= 1) s += __shfl_xor_sync(0xffffffffu, s, sh);
    if (lane == 0) delta[row] = s;
}

// out: the forward's output as f32 (attn_delta_bf16, the name kept from before bf16 activations) or bf16.
extern "C" __global__ void attn_delta_bf16(const bf16_t* g, const float* out, float* delta, int qLen, int heads, int D,
                                           int DP, long rows) {
    attn_delta(g, out, delta, qLen, heads, D, DP, rows, 0);
}

extern "C" __global__ void attn_delta_bf16_out_bf16(const bf16_t* g, const bf16* out, float* delta, int qLen, int heads,
                                                    int D, int DP, long rows, int natural) {
    attn_delta(g, out, delta, qLen, heads, D, DP, rows, natural);
}

// ---- forward -------------------------------------------------------------------------------------------

template <int DP, typename O>
__device__ __forceinline__ void attn_fwd_tc(const bf16_t* q, const bf16_t* k, const bf16_t* v, O* out, float* lse,
                                            int qLen, int kvLen, int heads, int D, float scaleLog2, int natural,
                                            const float2* rope, int rotateLoads) {
    constexpr int S = DP + 8;                            // +16 bytes a row: ldmatrix rows hit distinct banks
    constexpr int NT = COLS / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    bf16_t* Qs = (bf16_t*)smem;                          // [ROWS][S]
    bf16_t* Ks = Qs + ROWS * S;                          // [2][COLS][S]
    bf16_t* Vs = Ks + 2 * COLS * S;                      // [2][COLS][S]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int rs = natural ? heads * DP : DP;          // row stride of the inputs (head_rows)
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ROWS;  // the longest (latest) query blocks start first
    const int offset = kvLen - qLen;
    const bf16_t* qh = head_rows<DP>(q, b, h, heads, qLen, natural);
    const bf16_t* kh = head_rows<DP>(k, b, h, heads, kvLen, natural);
    const bf16_t* vh = head_rows<DP>(v, b, h, heads, kvLen, natural);
    const int lastKey = min(kvLen - 1, min(qLen - 1, q0 + ROWS - 1) + offset);
    const int tiles = lastKey / COLS + 1;
    const float2* ropeLoads = rotateLoads ? rope : nullptr;

    load_tile<DP, S, ROWS>(Qs, qh, q0, qLen, rs);
    load_tile<DP, S, COLS>(Ks, kh, 0, kvLen, rs);
    load_tile<DP, S, COLS>(Vs, vh, 0, kvLen, rs);
    cp_async_commit();

    const int r0 = q0 + warp * 16;                       // this warp's first query
    const int rowA = r0 + (lane >> 2), rowB = rowA + 8;  // the two rows this thread's fragments hold
    const int limA = min(rowA + offset, kvLen - 1), limB = min(rowB + offset, kvLen - 1);
    float o[DP / 8][4];
#pragma unroll
    for (int i = 0; i < DP / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float mA = -INFINITY, mB = -INFINITY, lA = 0.0f, lB = 0.0f;   // l: this thread's partial sums

    for (int t = 0; t < tiles; t++) {
        const int buf = t & 1;
        if (t + 1 < tiles) {
            load_tile<DP, S, COLS>(Ks + (buf ^ 1) * COLS * S, kh, (t + 1) * COLS, kvLen, rs);
            load_tile<DP, S, COLS>(Vs + (buf ^ 1) * COLS * S, vh, (t + 1) * COLS, kvLen, rs);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const int k0 = t * COLS;
        if (ropeLoads) {                                 // every thread's share, then the tiles are read
            if (t == 0) rope_tile<DP, S, ROWS>(Qs, ropeLoads, q0 + offset, qLen - q0);
            rope_tile<DP, S, COLS>(Ks + buf * COLS * S, ropeLoads, k0, kvLen - k0);
            __syncthreads();
        }
        if (k0 <= r0 + 15 + offset) {                    // some key of the tile is visible to this warp
            float s[NT][4];
#pragma unroll
            for (int i = 0; i < NT; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
            mma_abt<DP, S, NT>(s, Qs, warp * 16, Ks + buf * COLS * S, lane);
            const bool edge = k0 + COLS - 1 > min(r0 + offset, kvLen - 1);
            float mxA = -INFINITY, mxB = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = k0 + nt * 8 + 2 * (lane & 3) + (e & 1);
                    float x = s[nt][e] * scaleLog2;
                    if (edge && key > (e < 2 ? limA : limB)) x = -INFINITY;
                    s[nt][e] = x;
                    if (e < 2) mxA = fmaxf(mxA, x); else mxB = fmaxf(mxB, x);
                }
#pragma unroll
            for (int sh = 1; sh <= 2; sh <<= 1) {
                mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, sh));
                mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, sh));
            }
            // Finite from the first tile on: key 0 is visible to every row, and tile 0 comes first.
            const float nA = fmaxf(mA, mxA), nB = fmaxf(mB, mxB);
            const float cA = exp2f(mA - nA), cB = exp2f(mB - nB);   // 0 on the first tile
            mA = nA;
            mB = nB;
            float sA = 0.0f, sB = 0.0f;
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                s[nt][0] = exp2f(s[nt][0] - nA);
                s[nt][1] = exp2f(s[nt][1] - nA);
                s[nt][2] = exp2f(s[nt][2] - nB);
                s[nt][3] = exp2f(s[nt][3] - nB);
                sA += s[nt][0] + s[nt][1];
                sB += s[nt][2] + s[nt][3];
            }
            lA = lA * cA + sA;
            lB = lB * cB + sB;
#pragma unroll
            for (int i = 0; i < DP / 8; i++) {
                o[i][0] *= cA;
                o[i][1] *= cA;
                o[i][2] *= cB;
                o[i][3] *= cB;
            }
            mma_pb<DP, S, NT>(o, s, Vs + buf * COLS * S, lane);
        }
        __syncthreads();                                 // the buffer is refilled next iteration
    }
#pragma unroll
    for (int sh = 1; sh <= 2; sh <<= 1) {
        lA += __shfl_xor_sync(0xffffffffu, lA, sh);
        lB += __shfl_xor_sync(0xffffffffu, lB, sh);
    }
    store_rows<DP, O>(out, o, 1.0f / lA, 1.0f / lB, b, h, heads, D, qLen, r0, lane);
    if ((lane & 3) == 0) {
        if (rowA < qLen) lse[(long)bh * qLen + rowA] = (mA + log2f(lA)) * LN2;
        if (rowB < qLen) lse[(long)bh * qLen + rowB] = (mB + log2f(lB)) * LN2;
    }
}

// Instantiations: attn_fwd_tc{64,128} write f32 out (the names from before bf16 activations),
// attn_fwd_tc{64,128}_bf16 write bf16; the backward kernels likewise.
#define ATTN_FWD(DP, SUFFIX, O) \
    extern "C" __global__ void __launch_bounds__(128) attn_fwd_tc##DP##SUFFIX(const bf16_t* q, const bf16_t* k, \
            const bf16_t* v, O* out, float* lse, int qLen, int kvLen, int heads, int D, float scaleLog2, int natural, \
            const float2* rope, int rotateLoads) { \
        attn_fwd_tc<DP, O>(q, k, v, out, lse, qLen, kvLen, heads, D, scaleLog2, natural, rope, rotateLoads); }
ATTN_FWD(64, , float) ATTN_FWD(128, , float) ATTN_FWD(64, _bf16, bf16) ATTN_FWD(128, _bf16, bf16)

// ---- backward: dq ----------------------------------------------------------------------------------------
// dq_i = scale Σ_j dS_ij k_j, dS_ij = P_ij (dout_i · v_j − delta_i), P_ij = exp(scale q_i · k_j − lse_i).

template <int DP, typename O>
__device__ __forceinline__ void attn_bwd_dq_tc(const bf16_t* q, const bf16_t* k, const bf16_t* v, const bf16_t* g,
        const float* lse, const float* delta, O* dq, int qLen, int kvLen, int heads, int D, float scale, int natural,
        const float2* rope, int rotateLoads) {
    constexpr int S = DP + 8;
    constexpr int NT = COLS / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    bf16_t* Qs = (bf16_t*)smem;                          // [ROWS][S]
    bf16_t* Gs = Qs + ROWS * S;                          // [ROWS][S]: dout
    bf16_t* Ks = Gs + ROWS * S;                          // [2][COLS][S]
    bf16_t* Vs = Ks + 2 * COLS * S;                      // [2][COLS][S]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int rs = natural ? heads * DP : DP;          // row stride of the inputs (head_rows)
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ROWS;
    const int offset = kvLen - qLen;
    const bf16_t* kh = head_rows<DP>(k, b, h, heads, kvLen, natural);
    const bf16_t* vh = head_rows<DP>(v, b, h, heads, kvLen, natural);
    const int lastKey = min(kvLen - 1, min(qLen - 1, q0 + ROWS - 1) + offset);
    const int tiles = lastKey / COLS + 1;
    const float scaleLog2 = scale * LOG2E;
    const float2* ropeLoads = rotateLoads ? rope : nullptr;

    load_tile<DP, S, ROWS>(Qs, head_rows<DP>(q, b, h, heads, qLen, natural), q0, qLen, rs);
    load_tile<DP, S, ROWS>(Gs, head_rows<DP>(g, b, h, heads, qLen, natural), q0, qLen, rs);
    load_tile<DP, S, COLS>(Ks, kh, 0, kvLen, rs);
    load_tile<DP, S, COLS>(Vs, vh, 0, kvLen, rs);
    cp_async_commit();

    const int r0 = q0 + warp * 16;
    const int rowA = r0 + (lane >> 2), rowB = rowA + 8;
    const int limA = min(rowA + offset, kvLen - 1), limB = min(rowB + offset, kvLen - 1);
    const float lseA = rowA < qLen ? lse[(long)bh * qLen + rowA] * LOG2E : 0.0f;
    const float lseB = rowB < qLen ? lse[(long)bh * qLen + rowB] * LOG2E : 0.0f;
    const float dA = rowA < qLen ? delta[(long)bh * qLen + rowA] : 0.0f;
    const float dB = rowB < qLen ? delta[(long)bh * qLen + rowB] : 0.0f;
    float acc[DP / 8][4];
#pragma unroll
    for (int i = 0; i < DP / 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;

    for (int t = 0; t < tiles; t++) {
        const int buf = t & 1;
        if (t + 1 < tiles) {
            load_tile<DP, S, COLS>(Ks + (buf ^ 1) * COLS * S, kh, (t + 1) * COLS, kvLen, rs);
            load_tile<DP, S, COLS>(Vs + (buf ^ 1) * COLS * S, vh, (t + 1) * COLS, kvLen, rs);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const int k0 = t * COLS;
        if (ropeLoads) {
            if (t == 0) rope_tile<DP, S, ROWS>(Qs, ropeLoads, q0 + offset, qLen - q0);
            rope_tile<DP, S, COLS>(Ks + buf * COLS * S, ropeLoads, k0, kvLen - k0);
            __syncthreads();
        }
        if (k0 <= r0 + 15 + offset) {
            float s[NT][4], dp[NT][4];
#pragma unroll
            for (int i = 0; i < NT; i++) {
                s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
                dp[i][0] = dp[i][1] = dp[i][2] = dp[i][3] = 0.0f;
            }
            mma_abt<DP, S, NT>(s, Qs, warp * 16, Ks + buf * COLS * S, lane);
            mma_abt<DP, S, NT>(dp, Gs, warp * 16, Vs + buf * COLS * S, lane);
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = k0 + nt * 8 + 2 * (lane & 3) + (e & 1);
                    bool lower = e < 2;
                    float p = key <= (lower ? limA : limB) ? exp2f(s[nt][e] * scaleLog2 - (lower ? lseA : lseB)) : 0.0f;
                    s[nt][e] = p * (dp[nt][e] - (lower ? dA : dB));      // dS
                }
            mma_pb<DP, S, NT>(acc, s, Ks + buf * COLS * S, lane);
        }
        __syncthreads();
    }
    if (rope) {                                          // the gradient of the unrotated q
        unrope_acc<DP>(acc, scale, rope, rowA < qLen ? rowA + offset : -1, rowB < qLen ? rowB + offset : -1, lane);
        store_rows<DP, O>(dq, acc, 1.0f, 1.0f, b, h, heads, D, qLen, r0, lane);
    } else {
        store_rows<DP, O>(dq, acc, scale, scale, b, h, heads, D, qLen, r0, lane);
    }
}

#define ATTN_DQ(DP, SUFFIX, O) \
    extern "C" __global__ void __launch_bounds__(128) attn_bwd_dq_tc##DP##SUFFIX(const bf16_t* q, const bf16_t* k, \
            const bf16_t* v, const bf16_t* g, const float* lse, const float* delta, O* dq, int qLen, int kvLen, \
            int heads, int D, float scale, int natural, const float2* rope, int rotateLoads) { \
        attn_bwd_dq_tc<DP, O>(q, k, v, g, lse, delta, dq, qLen, kvLen, heads, D, scale, natural, rope, rotateLoads); }
ATTN_DQ(64, , float) ATTN_DQ(128, , float) ATTN_DQ(64, _bf16, bf16) ATTN_DQ(128, _bf16, bf16)

// ---- backward: dk, dv --------------------------------------------------------------------------------------
// dv_j = Σ_i P_ij dout_i, dk_j = scale Σ_i dS_ij q_i over the queries i that see key j. A warp's 16 keys are
// the rows: Sᵀ = K·Qᵀ and dPᵀ = V·doutᵀ come out with keys as rows, so Pᵀ and dSᵀ feed the next products as
// A operands. QT queries a tile (32 at DP = 128 keeps the four accumulators within the register file).

template <int DP, int QT, typename O>
__device__ __forceinline__ void attn_bwd_dkdv_tc(const bf16_t* q, const bf16_t* k, const bf16_t* v, const bf16_t* g,
        const float* lse, const float* delta, O* dk, O* dv, int qLen, int kvLen, int heads, int D, float scale,
        int natural, const float2* rope, int rotateLoads) {
    constexpr int S = DP + 8;
    constexpr int NT = QT / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    bf16_t* Ks = (bf16_t*)smem;                          // [ROWS][S]
    bf16_t* Vs = Ks + ROWS * S;                          // [ROWS][S]
    bf16_t* Qs = Vs + ROWS * S;                          // [2][QT][S]
    bf16_t* Gs = Qs + 2 * QT * S;                        // [2][QT][S]: dout
    float* Ls = (float*)(Gs + 2 * QT * S);               // [2][QT]: lse·log2(e) of the tile's queries
    float* Ds = Ls + 2 * QT;                             // [2][QT]: delta
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int rs = natural ? heads * DP : DP;          // row stride of the inputs (head_rows)
    const int j0 = blockIdx.x * ROWS;                    // the earliest keys are seen by the most queries: first
    const int offset = kvLen - qLen;
    const bf16_t* qh = head_rows<DP>(q, b, h, heads, qLen, natural);
    const bf16_t* gh = head_rows<DP>(g, b, h, heads, qLen, natural);
    const float* lh = lse + (long)bh * qLen;
    const float* dh = delta + (long)bh * qLen;
    const int first = max(0, j0 - offset) / QT * QT;     // the first query tile that sees a key of the block
    const int tiles = first < qLen ? (qLen - first + QT - 1) / QT : 0;
    const float scaleLog2 = scale * LOG2E;
    const float2* ropeLoads = rotateLoads ? rope : nullptr;

    load_tile<DP, S, ROWS>(Ks, head_rows<DP>(k, b, h, heads, kvLen, natural), j0, kvLen, rs);
    load_tile<DP, S, ROWS>(Vs, head_rows<DP>(v, b, h, heads, kvLen, natural), j0, kvLen, rs);
    if (tiles > 0) {
        load_tile<DP, S, QT>(Qs, qh, first, qLen, rs);
        load_tile<DP, S, QT>(Gs, gh, first, qLen, rs);
    }
    cp_async_commit();

    const int c0 = j0 + warp * 16;                       // this warp's first key
    const int keyA = c0 + (lane >> 2), keyB = keyA + 8;
    float ak[DP / 8][4], av[DP / 8][4];
#pragma unroll
    for (int i = 0; i < DP / 8; i++) {
        ak[i][0] = ak[i][1] = ak[i][2] = ak[i][3] = 0.0f;
        av[i][0] = av[i][1] = av[i][2] = av[i][3] = 0.0f;
    }

    for (int t = 0; t < tiles; t++) {
        const int buf = t & 1, i0 = first + t * QT;
        if (threadIdx.x < QT) {                          // plain loads: read after the barrier below
            int i = i0 + threadIdx.x;
            Ls[buf * QT + threadIdx.x] = i < qLen ? lh[i] * LOG2E : 0.0f;
            Ds[buf * QT + threadIdx.x] = i < qLen ? dh[i] : 0.0f;
        }
        if (t + 1 < tiles) {
            load_tile<DP, S, QT>(Qs + (buf ^ 1) * QT * S, qh, i0 + QT, qLen, rs);
            load_tile<DP, S, QT>(Gs + (buf ^ 1) * QT * S, gh, i0 + QT, qLen, rs);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (ropeLoads) {
            if (t == 0) rope_tile<DP, S, ROWS>(Ks, ropeLoads, j0, kvLen - j0);
            rope_tile<DP, S, QT>(Qs + buf * QT * S, ropeLoads, i0 + offset, qLen - i0);
            __syncthreads();
        }
        // Key j is seen by queries i >= j - offset: skip tiles that end before this warp's first key is seen,
        // and warps wholly past the keys.
        if (i0 + QT - 1 >= c0 - offset && c0 < kvLen) {
            float s[NT][4], dp[NT][4];
#pragma unroll
            for (int i = 0; i < NT; i++) {
                s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
                dp[i][0] = dp[i][1] = dp[i][2] = dp[i][3] = 0.0f;
            }
            mma_abt<DP, S, NT>(s, Ks, warp * 16, Qs + buf * QT * S, lane);
            mma_abt<DP, S, NT>(dp, Vs, warp * 16, Gs + buf * QT * S, lane);
            const float* L = Ls + buf * QT;
            const float* Dl = Ds + buf * QT;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int col = nt * 8 + 2 * (lane & 3) + (e & 1), i = i0 + col;
                    int key = e < 2 ? keyA : keyB;
                    bool seen = i < qLen && key <= i + offset;
                    float p = seen ? exp2f(s[nt][e] * scaleLog2 - L[col]) : 0.0f;
                    s[nt][e] = p;
                    dp[nt][e] = p * (dp[nt][e] - Dl[col]);                 // dSᵀ
                }
            mma_pb<DP, S, NT>(av, s, Gs + buf * QT * S, lane);
            mma_pb<DP, S, NT>(ak, dp, Qs + buf * QT * S, lane);
        }
        __syncthreads();
    }
    if (rope) {                                          // the gradient of the unrotated k
        unrope_acc<DP>(ak, scale, rope, keyA < kvLen ? keyA : -1, keyB < kvLen ? keyB : -1, lane);
        store_rows<DP, O>(dk, ak, 1.0f, 1.0f, b, h, heads, D, kvLen, c0, lane);
    } else {
        store_rows<DP, O>(dk, ak, scale, scale, b, h, heads, D, kvLen, c0, lane);
    }
    store_rows<DP, O>(dv, av, 1.0f, 1.0f, b, h, heads, D, kvLen, c0, lane);
}

#define ATTN_DKDV(DP, QT, SUFFIX, O) \
    extern "C" __global__ void __launch_bounds__(128) attn_bwd_dkdv_tc##DP##SUFFIX(const bf16_t* q, const bf16_t* k, \
            const bf16_t* v, const bf16_t* g, const float* lse, const float* delta, O* dk, O* dv, int qLen, int kvLen, \
            int heads, int D, float scale, int natural, const float2* rope, int rotateLoads) { \
        attn_bwd_dkdv_tc<DP, QT, O>(q, k, v, g, lse, delta, dk, dv, qLen, kvLen, heads, D, scale, natural, rope, \
                                    rotateLoads); }
ATTN_DKDV(64, 64, , float) ATTN_DKDV(128, 32, , float) ATTN_DKDV(64, 64, _bf16, bf16) ATTN_DKDV(128, 32, _bf16, bf16)
