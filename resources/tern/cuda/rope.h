// The rotation of one RoPE pair (x[i], x[i + headDim/2]) by an angle whose (cos, sin) is cs, backwards with
// sign = -1, and the grid-stride loop of rope.cu's kernels: shared by rope.cu and the attention that applies
// RoPE itself (attention_mma.cu), so a rotation fused into the attention is the separate kernel's bit for bit.
// Include dtype.h and vec8.h before this file (Kernels.source inlines includes one level deep). Explicit
// fused multiply-adds: left to the compiler, two instantiations may contract different products, and a
// rotation near cancellation then differs in the last f32 bits.
#ifndef TERN_ROPE_H
#define TERN_ROPE_H

__device__ __forceinline__ void rope_rotate(float a, float b, float2 cs, float sign, float* ra, float* rb) {
    float sn = cs.y * sign;
    *ra = fmaf(a, cs.x, __fmul_rn(-b, sn));
    *rb = fmaf(b, cs.x, __fmul_rn(a, sn));
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

#endif
