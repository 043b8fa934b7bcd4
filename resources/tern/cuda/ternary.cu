// Ternary weights: absmean scale per shard, packing at 2 bits per weight, unpacking, fake quantization,
// and the matrix-vector product for a few rows (decode, small batches) on the packed form.
// Valid for sm_70 and later.
//
// Packing (TernaryLayout.java): row r holds wpr = 32 * ceil(cols / 512) words. Each run of 512 columns
// is 32 words; column c sits in word (c / 512) * 32 + (c % 32) at bits 2 * ((c % 512) / 32). So lane l
// of a warp reading word l of a run needs columns l, l + 32, ..., l + 480: consecutive lanes read
// consecutive words from global memory and consecutive floats of x from shared memory, without bank
// conflicts. Codes: 00 = 0, 01 = +1, 10 = -1. Padding columns are 00.

// Shard of a row (axis 0 = ROWS) or column (axis 1 = COLS): floor(index * shards / extent), as
// TernaryWeights.shardOf.
__device__ __forceinline__ int shard_of(int index, int shards, int extent) {
    return (int)((long)index * shards / extent);
}

__device__ double block_sum_d(double v) {
    __shared__ double partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    double total = 0;
    if (warp == 0) {
        total = lane < (blockDim.x >> 5) ? partial[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) total += __shfl_down_sync(0xffffffffu, total, o);
    }
    return total;
}

// sums[s] += Σ |w| over shard s (sums zeroed by the caller). blockIdx.y is the shard; blocks along x
// split the shard's elements. A ROWS shard is a contiguous run of rows; a COLS shard a band of columns.
extern "C" __global__ void tern_abs_sum(const float* w, int rows, int cols, int shards, int axis, double* sums) {
    int s = blockIdx.y;
    int extent = axis == 0 ? rows : cols;
    // first index whose shard is s: ceil(s * extent / shards)
    int lo = (int)(((long)s * extent + shards - 1) / shards);
    int hi = (int)(((long)(s + 1) * extent + shards - 1) / shards);
    double acc = 0;
    if (axis == 0) {
        long begin = (long)lo * cols, end = (long)hi * cols;
        for (long i = begin + (long)blockIdx.x * blockDim.x + threadIdx.x; i < end; i += (long)blockDim.x * gridDim.x)
            acc += fabs((double)w[i]);
    } else {
        int width = hi - lo;
        long n = (long)rows * width;
        for (long e = (long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long)blockDim.x * gridDim.x) {
            long r = e / width; int c = lo + (int)(e - r * width);
            acc += fabs((double)w[r * cols + c]);
        }
    }
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) atomicAdd(&sums[s], acc);
}

// clamp(rint(w / gamma), -1, 1); rintf rounds half to even, as torch.round.
__device__ __forceinline__ int ternary_of(float w, float gamma) {
    float q = rintf(w / gamma);
    return q > 0.0f ? 1 : (q < 0.0f ? -1 : 0);
}

// One thread per packed word.
extern "C" __global__ void tern_pack(const float* w, int rows, int cols, int wpr, const float* gammas,
                                     int shards, int axis, unsigned* packed) {
    long words = (long)rows * wpr;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < words; i += (long)blockDim.x * gridDim.x) {
        int r = (int)(i / wpr), wi = (int)(i - (long)r * wpr);
        int base = (wi >> 5) * 512 + (wi & 31);
        float rowGamma = axis == 0 ? gammas[shard_of(r, shards, rows)] : 0.0f;
        unsigned word = 0;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            int c = base + 32 * j;
            if (c < cols) {
                float g = axis == 0 ? rowGamma : gammas[shard_of(c, shards, cols)];
                int t = ternary_of(w[(long)r * cols + c], g);
                word |= (t == 1 ? 1u : (t == -1 ? 2u : 0u)) << (2 * j);
            }
        }
        packed[i] = word;
    }
}

// out[r, c] = gamma * T[r, c].
extern "C" __global__ void tern_unpack(const unsigned* packed, int rows, int cols, int wpr, const float* gammas,
                                       int shards, int axis, float* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        int r = (int)(i / cols), c = (int)(i - (long)r * cols);
        unsigned word = packed[(long)r * wpr + (c >> 9) * 32 + (c & 31)];
        unsigned code = (word >> (2 * ((c & 511) >> 5))) & 3u;
        float g = gammas[axis == 0 ? shard_of(r, shards, rows) : shard_of(c, shards, cols)];
        out[i] = code == 1u ? g : (code == 2u ? -g : 0.0f);
    }
}

// out = gamma * clamp(rint(w / gamma), -1, 1), elementwise; out may alias w.
extern "C" __global__ void tern_fake_quant(const float* w, int rows, int cols, const float* gammas,
                                           int shards, int axis, float* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        int r = (int)(i / cols), c = (int)(i - (long)r * cols);
        float g = gammas[axis == 0 ? shard_of(r, shards, rows) : shard_of(c, shards, cols)];
        out[i] = g * (float)ternary_of(w[i], g);
    }
}

// y[m, rows] = x[m, cols] (gamma T)^T (+ y) for m <= MAXM. x is staged once per block in shared memory,
// zero-padded to wpr * 16 columns and, for COLS shards, multiplied by its column's gamma. Each warp owns
// RPW output rows at a time (a block loops over row groups: the staged x is reused), each lane one word
// per run of 512 columns; a set bit of the pos (neg) plane adds (subtracts) the x value, so the inner
// loop has no multiply. The partial sums meet by warp shuffles and one multiply by gamma per output.
#define RPW 4
template <int MAXM>
__device__ void gemv_body(const unsigned* __restrict__ w, int rows, int cols, int wpr,
                          const float* __restrict__ gammas, int shards, int axis,
                          const float* __restrict__ x, int m, float* y, int accumulate) {
    extern __shared__ float xs[];
    const int colsPad = wpr * 16;
    for (int i = threadIdx.x; i < m * colsPad; i += blockDim.x) {
        int mi = i / colsPad, c = i - mi * colsPad;
        float v = 0.0f;
        if (c < cols) {
            v = x[(long)mi * cols + c];
            if (axis == 1) v *= gammas[shard_of(c, shards, cols)];
        }
        xs[i] = v;
    }
    __syncthreads();

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int groups = (rows + RPW - 1) / RPW;
    for (int g = blockIdx.x * warps + warp; g < groups; g += gridDim.x * warps) {
        const int r0 = g * RPW;
        float pos[MAXM][RPW], neg[MAXM][RPW];
#pragma unroll
        for (int mi = 0; mi < MAXM; mi++)
#pragma unroll
            for (int r = 0; r < RPW; r++) { pos[mi][r] = 0.0f; neg[mi][r] = 0.0f; }
        const unsigned* rowp[RPW];
#pragma unroll
        for (int r = 0; r < RPW; r++) rowp[r] = w + (long)min(r0 + r, rows - 1) * wpr;  // clamp: stay in bounds
        for (int wi = lane; wi < wpr; wi += 32) {
            unsigned word[RPW];
#pragma unroll
            for (int r = 0; r < RPW; r++) word[r] = __ldg(rowp[r] + wi);
            const int cBase = (wi >> 5) * 512 + (wi & 31);
#pragma unroll
            for (int j = 0; j < 16; j++) {
#pragma unroll
                for (int mi = 0; mi < MAXM; mi++) {
                    if (mi < m) {
                        float xv = xs[mi * colsPad + cBase + 32 * j];
#pragma unroll
                        for (int r = 0; r < RPW; r++) {
                            if (word[r] & (1u << (2 * j))) pos[mi][r] += xv;
                            if (word[r] & (2u << (2 * j))) neg[mi][r] += xv;
                        }
                    }
                }
            }
        }
#pragma unroll
        for (int mi = 0; mi < MAXM; mi++) {
#pragma unroll
            for (int r = 0; r < RPW; r++) {
                float s = pos[mi][r] - neg[mi][r];
                for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
                int row = r0 + r;
                if (lane == 0 && mi < m && row < rows) {
                    if (axis == 0) s *= gammas[shard_of(row, shards, rows)];
                    long o = (long)mi * rows + row;
                    y[o] = accumulate ? y[o] + s : s;
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) tern_gemv1(const unsigned* w, int rows, int cols, int wpr,
        const float* gammas, int shards, int axis, const float* x, int m, float* y, int accumulate) {
    gemv_body<1>(w, rows, cols, wpr, gammas, shards, axis, x, m, y, accumulate);
}

extern "C" __global__ void __launch_bounds__(256) tern_gemv4(const unsigned* w, int rows, int cols, int wpr,
        const float* gammas, int shards, int axis, const float* x, int m, float* y, int accumulate) {
    gemv_body<4>(w, rows, cols, wpr, gammas, shards, axis, x, m, y, accumulate);
}

// ---- fake quantizers: per-unit reductions and the elementwise apply ---------------------------------

// out[r] = Σ_c |x[r, c]| in double; grid-stride over rows, one block per row at a time.
extern "C" __global__ void abs_sum_rows(const float* x, int rows, int cols, double* out) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        double acc = 0;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) acc += fabs((double)x[(long)r * cols + c]);
        acc = block_sum_d(acc);
        if (threadIdx.x == 0) out[r] = acc;
    }
}

__device__ float block_max_f(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float total = 0.0f;
    if (warp == 0) {
        total = lane < (blockDim.x >> 5) ? partial[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) total = fmaxf(total, __shfl_down_sync(0xffffffffu, total, o));
    }
    return total;
}

// out[r] = max_c |x[r, c]|.
extern "C" __global__ void abs_max_rows(const float* x, int rows, int cols, float* out) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        float m = 0.0f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, fabsf(x[(long)r * cols + c]));
        m = block_max_f(m);
        if (threadIdx.x == 0) out[r] = m;
    }
}

// *out = max |x| over the whole tensor, as float bits (non-negative floats order like their bits).
extern "C" __global__ void abs_max_all(const float* x, long n, unsigned* out) {
    float m = 0.0f;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x)
        m = fmaxf(m, fabsf(x[i]));
    m = block_max_f(m);
    if (threadIdx.x == 0) atomicMax(out, __float_as_uint(m));
}

// out = alpha * sign(w), sign(0) = +1; alpha per row (perRow) or one for the tensor.
extern "C" __global__ void binary_apply(const float* w, int rows, int cols, const float* scales, int perRow, float* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        float a = scales[perRow ? (int)(i / cols) : 0];
        out[i] = w[i] >= 0.0f ? a : -a;
    }
}

// out = s * clamp(rint(x / s), -q, q); s per row (perRow) or one for the tensor.
extern "C" __global__ void symq_apply(const float* x, int rows, int cols, const float* scales, int perRow,
                                      float q, float* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        float s = scales[perRow ? (int)(i / cols) : 0];
        out[i] = s * fminf(fmaxf(rintf(x[i] / s), -q), q);
    }
}
