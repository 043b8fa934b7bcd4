// Tiled matrix products on CUDA cores, f32 accumulate: the float matmul (any transposes) and the ternary
// products on 2-bit packed weights for many rows (training batches). Valid for sm_70 and later.
//
// One block computes a 64x64 tile of C with 256 threads, each 4x4 outputs spaced 16 apart (so a warp's
// shared-memory reads are broadcasts along one axis and consecutive along the other). The k loop stages
// 16-deep slices of A and B in shared memory. Operands are read through loaders so the same tile code
// serves row-major, transposed, and packed-ternary operands; a loader says which index runs fastest in
// memory so the staging loads are coalesced.

#define TILE 64
#define TK 16

// A(i, k) of a row-major float matrix, transposed or not.
struct FloatA {
    const float* p; int rowsM; int depthK; bool trans;
    __device__ bool kFast() const { return !trans; }
    __device__ float operator()(int i, int k) const {
        return trans ? p[(long)k * rowsM + i] : p[(long)i * depthK + k];
    }
};

// B(k, j) of a row-major float matrix, transposed or not.
struct FloatB {
    const float* p; int colsN; int depthK; bool trans;
    __device__ bool kFast() const { return trans; }
    __device__ float operator()(int k, int j) const {
        return trans ? p[(long)j * depthK + k] : p[(long)k * colsN + j];
    }
};

// Ternary packing: ternary_layout.h. The gamma of the element's shard is folded in, so the value read
// is gamma * T.
#include "ternary_layout.h"

__device__ __forceinline__ float ternary_value(const unsigned* w, int kcCount, int r, int c,
                                               const float* gammas, int shards, int axis, int rows, int cols) {
    int shard = axis == 0 ? (int)((long)r * shards / rows) : (int)((long)c * shards / cols);
    return gammas[shard] * (float)tern_value(w, kcCount, r, c);
}

// B(k, j) = (gamma T)[j, k]: the forward product y = x (gamma T)^T, k runs over input columns.
struct TernaryB {
    const unsigned* w; int kcCount; const float* gammas; int shards; int axis; int rows; int cols;
    __device__ bool kFast() const { return true; }
    __device__ float operator()(int k, int j) const { return ternary_value(w, kcCount, j, k, gammas, shards, axis, rows, cols); }
};

// B(k, j) = (gamma T)[k, j]: the input gradient dx = dy (gamma T), k runs over output rows.
struct TernaryBT {
    const unsigned* w; int kcCount; const float* gammas; int shards; int axis; int rows; int cols;
    __device__ bool kFast() const { return false; }
    __device__ float operator()(int k, int j) const { return ternary_value(w, kcCount, k, j, gammas, shards, axis, rows, cols); }
};

template <class LA, class LB>
__device__ void gemm_tile(const LA& la, const LB& lb, float* C, int M, int N, int K, int accumulate) {
    __shared__ float As[TK][TILE + 1];   // +1: the k-fast staging writes would otherwise hit one bank
    __shared__ float Bs[TK][TILE + 1];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int bm = blockIdx.y * TILE, bn = blockIdx.x * TILE;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    const bool aK = la.kFast(), bK = lb.kFast();
    for (int k0 = 0; k0 < K; k0 += TK) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int idx = tid + 256 * r;
            int ii = aK ? idx >> 4 : idx & 63, ak = aK ? idx & 15 : idx >> 6;
            int gi = bm + ii, gk = k0 + ak;
            As[ak][ii] = (gi < M && gk < K) ? la(gi, gk) : 0.0f;
            int jj = bK ? idx >> 4 : idx & 63, bk = bK ? idx & 15 : idx >> 6;
            int gj = bn + jj, gk2 = k0 + bk;
            Bs[bk][jj] = (gj < N && gk2 < K) ? lb(gk2, gj) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int gi = bm + ty + 16 * i;
        if (gi >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int gj = bn + tx + 16 * j;
            if (gj >= N) continue;
            long o = (long)gi * N + gj;
            C[o] = accumulate ? C[o] + acc[i][j] : acc[i][j];
        }
    }
}

// C[M,N] = op(A) op(B) (+ C): A is [M,K] ([K,M] when transA), B is [K,N] ([N,K] when transB).
extern "C" __global__ void __launch_bounds__(256) sgemm_tiled(const float* A, const float* B, float* C,
        int M, int N, int K, int transA, int transB, int accumulate) {
    FloatA la{A, M, K, transA != 0};
    FloatB lb{B, N, K, transB != 0};
    gemm_tile(la, lb, C, M, N, K, accumulate);
}

// y[m, rows] = x[m, cols] (gamma T)^T (+ y).
extern "C" __global__ void __launch_bounds__(256) tern_gemm(const float* x, const unsigned* w, int kcCount,
        const float* gammas, int shards, int axis, int rows, int cols, float* y, int m, int accumulate) {
    FloatA la{x, m, cols, false};
    TernaryB lb{w, kcCount, gammas, shards, axis, rows, cols};
    gemm_tile(la, lb, y, m, rows, cols, accumulate);
}

// dx[m, cols] = dy[m, rows] (gamma T) (+ dx).
extern "C" __global__ void __launch_bounds__(256) tern_gemm_t(const float* dy, const unsigned* w, int kcCount,
        const float* gammas, int shards, int axis, int rows, int cols, float* dx, int m, int accumulate) {
    FloatA la{dy, m, rows, false};
    TernaryBT lb{w, kcCount, gammas, shards, axis, rows, cols};
    gemm_tile(la, lb, dx, m, cols, rows, accumulate);
}
