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

#define ROPE_KERNELS(S, T) \
    extern "C" __global__ void rope_##S(const T* x, T* out, const float2* table, int rows, int seq, int heads, \
                                        int headDim, int posOffset, float sign) { \
        rope_impl(x, out, table, rows, seq, heads, headDim, posOffset, sign); }
TERN_EACH_TYPE(ROPE_KERNELS)
