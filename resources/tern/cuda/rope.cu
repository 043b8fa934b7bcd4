// Rotary position embedding, forward and backward (sign -1), and its (cos, sin) table. Activations are
// stored as T (f32, bf16 or f16: dtype.h; one instantiation per type, suffixed with its name); the table is
// f32. Valid for sm_70 and later.

#include "dtype.h"
#include "vec8.h"
#include "rope.h"

// Hugging Face rotate_half: dimension i pairs with i + headDim/2, angle pos * theta^(-2i/headDim),
// pos = posOffset + row % seq. The angle is computed in double: at positions in the thousands a float
// angle is off by 1e-4 radians. sign = -1 rotates backwards (the backward pass). out may alias x.
// The rotation of (x[i], x[i + half]) by pos · theta^(-2i / headDim), its cos and sin taken in double
// and rounded to f32. rope_table_f32 tabulates them once per (headDim, theta) for positions [0, positions)
// as [pos][i] = (cos, sin); rope_f32 then reads the table instead of calling pow and sincos in double for
// every element (which made it ~4x slower than its memory traffic).
extern "C" __global__ void rope_table_f32(float2* table, int positions, int headDim, float theta) {
    int half = headDim / 2;
    long n = (long)positions * half;
    for (long t = (long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (long)blockDim.x * gridDim.x) {
        int i = (int)(t % half), pos = (int)(t / half);
        double angle = (double)pos * pow((double)theta, -2.0 * i / headDim);
        double s, c;
        sincos(angle, &s, &c);
        table[t] = make_float2((float)c, (float)s);
    }
}

// Thread t rotates the pairs i..i+7 of one (row, head) with 16-byte loads and stores (vec8.h) when half is
// a multiple of 8 and x, out and the table are 16-byte aligned, else one pair; each pair's arithmetic is the
// same either way.
template <typename T>
__device__ __forceinline__ void rope_impl(const T* x, T* out, const float2* table, int rows, int seq, int heads,
                                          int headDim, int posOffset, float sign) {
    int half = headDim / 2;
    bool vec = half % 8 == 0 && aligned16(x) && aligned16(out) && aligned16(table);
    int group = vec ? 8 : 1, groups = half / group;
    long n = (long)rows * heads * groups;
    for (long t = (long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (long)blockDim.x * gridDim.x) {
        int i = (int)(t % groups) * group;
        long rh = t / groups;
        int h = (int)(rh % heads);
        int row = (int)(rh / heads);
        int pos = posOffset + row % seq;
        const float2* cs = table + (long)pos * half + i;
        long base = (long)row * heads * headDim + (long)h * headDim;
        if (vec) {
            float a[8], b[8];
            load8(x + base + i, a, true);
            load8(x + base + i + half, b, true);
            float4 c4[4];
#pragma unroll
            for (int j = 0; j < 4; j++) c4[j] = ((const float4*)cs)[j];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                rope_rotate(a[2 * j], b[2 * j], make_float2(c4[j].x, c4[j].y), sign, &a[2 * j], &b[2 * j]);
                rope_rotate(a[2 * j + 1], b[2 * j + 1], make_float2(c4[j].z, c4[j].w), sign, &a[2 * j + 1], &b[2 * j + 1]);
            }
            store8(out + base + i, a, true);
            store8(out + base + i + half, b, true);
        } else {
            float ra, rb;
            rope_rotate(load(x[base + i]), load(x[base + i + half]), cs[0], sign, &ra, &rb);
            store(out + base + i, ra);
            store(out + base + i + half, rb);
        }
    }
}

#define ROPE_KERNELS(S, T) \
    extern "C" __global__ void rope_##S(const T* x, T* out, const float2* table, int rows, int seq, int heads, \
                                        int headDim, int posOffset, float sign) { \
        rope_impl(x, out, table, rows, seq, heads, headDim, posOffset, sign); }
TERN_EACH_TYPE(ROPE_KERNELS)
