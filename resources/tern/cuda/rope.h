// The rotation of one RoPE pair (x[i], x[i + headDim/2]) by an angle whose (cos, sin) is cs, backwards with
// sign = -1: shared by rope.cu and the attention that applies RoPE to its tiles (attention_mma.cu), so a
// rotation fused into the attention is the separate kernel's bit for bit. Explicit fused multiply-adds: left
// to the compiler, two instantiations may contract different products, and a rotation near cancellation then
// differs in the last f32 bits.
#ifndef TERN_ROPE_H
#define TERN_ROPE_H

__device__ __forceinline__ void rope_rotate(float a, float b, float2 cs, float sign, float* ra, float* rb) {
    float sn = cs.y * sign;
    *ra = fmaf(a, cs.x, __fmul_rn(-b, sn));
    *rb = fmaf(b, cs.x, __fmul_rn(a, sn));
}

#endif
