package tern.simd;

import java.lang.foreign.MemorySegment;

/** The SwiGLU gate: out = silu(gate)⊙up, silu(g) = g·σ(g); backward through silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
final class SwiGlu {
    private static final int MIN_PARALLEL = 1 << 15;

    private final FloatKernels k;

    SwiGlu(FloatKernels kernels) { this.k = kernels; }

    void forward(MemorySegment gate, MemorySegment up, MemorySegment out, long size) {
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> k.swiglu(gate, up, out, from, n));
    }

    void backward(MemorySegment dout, MemorySegment gate, MemorySegment up, MemorySegment dgate, MemorySegment dup, long size) {
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> k.swigluBackward(dout, gate, up, dgate, dup, from, n));
    }
}
