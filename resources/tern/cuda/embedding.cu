// Embedding, forward and backward. Activations are stored as T (f32, bf16 or f16: dtype.h; one
// instantiation per type, suffixed with its name); the table and its gradient stay f32. Valid for sm_70
// and later.

#include "dtype.h"

// out[i] = table[ids[i]]; blocks over output rows, threads over the dimension. ids were checked on the host.
template <typename T>
__device__ __forceinline__ void embedding_fwd_impl(const float* table, const int* ids, int n, int dim, T* out) {
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        const float* src = table + (long)ids[i] * dim;
        T* dst = out + (long)i * dim;
        for (int d = threadIdx.x; d < dim; d += blockDim.x) store(dst + d, src[d]);
    }
}

// dtable[id] += Σ dout[i] over the positions i holding id, in increasing i. The host groups the positions by
// id (csr = [ids: uniques used of n | starts: uniques+1 used of n+1 | n positions | uniques]), so each id's row
// is owned by one block and summed in a fixed order: the same bits on every run (atomics would add in arrival
// order), which bit-exact resumption of a GPU run needs. The offsets and the launch depend on n only, the
// unique count is read here: a training step captured as a CUDA graph replays it with other ids.
template <typename T>
__device__ __forceinline__ void embedding_bwd_impl(const T* dout, const int* csr, int n, int dim, float* dtable) {
    const int uniques = csr[3 * n + 1];
    const int* starts = csr + n;
    const int* positions = csr + 2 * n + 1;
    for (int u = blockIdx.x; u < uniques; u += gridDim.x) {
        float* dst = dtable + (long)csr[u] * dim;
        int p0 = starts[u], p1 = starts[u + 1];
        for (int d = threadIdx.x; d < dim; d += blockDim.x) {
            float acc = dst[d];
            for (int p = p0; p < p1; p++) acc += load(dout[(long)positions[p] * dim + d]);
            dst[d] = acc;
        }
    }
}

#define EMBEDDING_KERNELS(S, T) \
    extern "C" __global__ void embedding_fwd_##S(const float* table, const int* ids, int n, int dim, T* out) { \
        embedding_fwd_impl(table, ids, n, dim, out); } \
    extern "C" __global__ void embedding_bwd_##S(const T* dout, const int* csr, int n, int dim, float* dtable) { \
        embedding_bwd_impl(dout, csr, n, dim, dtable); }
TERN_EACH_TYPE(EMBEDDING_KERNELS)
