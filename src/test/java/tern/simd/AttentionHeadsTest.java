package tern.simd;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Decode attention's per-head kernels ({@link FloatKernels#headScores}, {@link FloatKernels#headWeights}) promise the
 * bits of a {@link FloatKernels#dot} / {@link FloatKernels#axpy} per key, whatever they hold in registers: checked bit
 * for bit against those calls on both kernel paths, at the depths the register forms take (4 and 8 vectors: 64 floats
 * at 512 and 256 bits) and at any other, and against a double sum within the float summation bound. Then the whole
 * one-query attention against the per-key path it replaced (a dot and an axpy per key and head, keys outside), bit
 * for bit. Values include ±0 so the sign rules of the zero-started sums are exercised.
 */
class AttentionHeadsTest {
    private static final List<FloatKernels> KERNELS = List.of(ScalarFloatKernels.INSTANCE, VectorFloatKernels.INSTANCE);
    private static final double U = 0x1p-24;   // unit roundoff of float

    /** kind 0 and 1: the register forms' depths (4 and 8 vectors of the kernels' width); 2: any depth. */
    private static int depth(int kind, int any) {
        return kind == 0 ? 4 * Species.FLOATS : kind == 1 ? 8 * Species.FLOATS : any;
    }

    @Property(tries = 200)
    void headScoresAreScaledDotsPerKey(@ForAll @IntRange(min = 0, max = 2) int kind, @ForAll @IntRange(min = 1, max = 140) int any,
                                       @ForAll @IntRange(min = 1, max = 70) int n, @ForAll @IntRange(min = 0, max = 40) int gap,
                                       @ForAll long seed) {
        int depth = depth(kind, any), stride = depth + gap;
        float scale = (float) (1 / Math.sqrt(depth));
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = segment(arena, rnd, 3 + depth), k = segment(arena, rnd, 5 + (long) n * stride);
            for (FloatKernels kern : KERNELS) {
                MemorySegment s = arena.allocate((long) (n + 2) * Float.BYTES);
                kern.headScores(q, 3, k, 5, stride, n, depth, scale, s, 1);
                for (int j = 0; j < n; j++) {
                    float got = get(s, 1 + j), want = scale * kern.dot(q, 3, k, 5 + (long) j * stride, depth);
                    if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(want))
                        fail(kern.getClass().getSimpleName() + " depth " + depth + " key " + j + ": " + got + " vs dot's " + want);
                    double exact = 0, abs = 0;
                    for (int d = 0; d < depth; d++) {
                        double t = (double) get(q, 3 + d) * get(k, 5 + (long) j * stride + d);
                        exact += t;
                        abs += Math.abs(t);
                    }
                    // any order of depth fused sums, then one rounding of the scale: (depth + 2)·u·Σ|q·k|·scale
                    double bound = (depth + 2) * U * abs * scale;
                    if (!(Math.abs(got - scale * exact) <= bound))
                        fail("depth " + depth + " key " + j + ": " + got + " vs exact " + scale * exact + " (bound " + bound + ")");
                }
            }
        }
    }

    @Property(tries = 200)
    void headWeightsAreAxpysPerKeyInOrder(@ForAll @IntRange(min = 0, max = 2) int kind, @ForAll @IntRange(min = 1, max = 140) int any,
                                          @ForAll @IntRange(min = 1, max = 70) int n, @ForAll @IntRange(min = 0, max = 40) int gap,
                                          @ForAll long seed) {
        int depth = depth(kind, any), stride = depth + gap;
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = segment(arena, rnd, 2 + n), v = segment(arena, rnd, 7 + (long) n * stride);
            MemorySegment start = segment(arena, rnd, depth);   // out is accumulated into: a block of keys continues the last
            for (FloatKernels kern : KERNELS) {
                MemorySegment got = arena.allocate((long) (depth + 4) * Float.BYTES), want = arena.allocate((long) depth * Float.BYTES);
                MemorySegment.copy(start, 0, got, 4L * Float.BYTES, (long) depth * Float.BYTES);
                MemorySegment.copy(start, 0, want, 0, (long) depth * Float.BYTES);
                kern.headWeights(p, 2, n, v, 7, stride, depth, got, 4);
                for (int j = 0; j < n; j++) kern.axpy(get(p, 2 + j), v, 7 + (long) j * stride, want, 0, depth);
                for (int d = 0; d < depth; d++) {
                    float g = get(got, 4 + d), w = get(want, d);
                    if (Float.floatToRawIntBits(g) != Float.floatToRawIntBits(w))
                        fail(kern.getClass().getSimpleName() + " depth " + depth + ", " + n + " keys, element " + d + ": " + g + " vs axpys' " + w);
                    double exact = get(start, d), abs = Math.abs(exact);
                    for (int j = 0; j < n; j++) {
                        double t = (double) get(p, 2 + j) * get(v, 7 + (long) j * stride + d);
                        exact += t;
                        abs += Math.abs(t);
                    }
                    double bound = (n + 1) * U * abs;
                    if (!(Math.abs(g - exact) <= bound)) fail("depth " + depth + " element " + d + ": " + g + " vs exact " + exact + " (bound " + bound + ")");
                }
            }
        }
    }

    /**
     * One query over a cache (what every decode step runs per layer) equals the per-key path it replaced, bit for
     * bit: scores by a dot per key and head, the same softmax calls, the output by an axpy per key and head.
     */
    @Property(tries = 60)
    void oneQueryAttentionEqualsThePerKeyPath(@ForAll @IntRange(min = 0, max = 2) int kind, @ForAll @IntRange(min = 1, max = 40) int half,
                                              @ForAll @IntRange(min = 1, max = 6) int heads, @ForAll @IntRange(min = 1, max = 80) int len,
                                              @ForAll long seed) {
        int headDim = kind < 2 ? depth(kind, 0) : 2 * half, width = heads * headDim;
        Random rnd = new Random(seed);
        float[] q = OpsTestSupport.gaussian(rnd, width, 1), k = OpsTestSupport.gaussian(rnd, len * width, 1);
        float[] v = OpsTestSupport.gaussian(rnd, len * width, 1);
        for (CpuBackend be : OpsTestSupport.backends())
            try (Tensor tq = Tensor.of(q, 1, width); Tensor tk = Tensor.of(k, len, width); Tensor tv = Tensor.of(v, len, width);
                 Tensor out = Tensor.zeros(DType.F32, 1, width); Tensor lse = Tensor.zeros(DType.F32, 1, heads, 1);
                 Arena arena = Arena.ofConfined()) {
                be.attention(tq, tk, tv, 1, 1, len, heads, headDim, out, lse);
                MemorySegment refOut = arena.allocate((long) width * Float.BYTES), refLse = arena.allocate((long) heads * Float.BYTES);
                perKey(be.kernels(), tq.segment(), tk.segment(), tv.segment(), len, heads, headDim, refOut, refLse, arena);
                float[] o = out.toFloatArray(), l = lse.toFloatArray();
                for (int i = 0; i < width; i++)
                    if (Float.floatToRawIntBits(o[i]) != Float.floatToRawIntBits(get(refOut, i)))
                        fail(OpsTestSupport.pathOf(be) + " headDim " + headDim + ", " + len + " keys, out[" + i + "] " + o[i] + " vs per-key " + get(refOut, i));
                for (int h = 0; h < heads; h++)
                    if (Float.floatToRawIntBits(l[h]) != Float.floatToRawIntBits(get(refLse, h)))
                        fail(OpsTestSupport.pathOf(be) + " lse[" + h + "] " + l[h] + " vs per-key " + get(refLse, h));
            }
    }

    /** The decode path before the per-head kernels (Attention.headGroup at edcc667), all heads in one group. */
    private static void perKey(FloatKernels k, MemorySegment q, MemorySegment kk, MemorySegment v, int visible, int heads, int headDim,
                               MemorySegment out, MemorySegment lse, Arena arena) {
        int width = heads * headDim;
        float scale = (float) (1 / Math.sqrt(headDim));
        MemorySegment scores = arena.allocate((long) heads * visible * Float.BYTES);
        for (int j = 0; j < visible; j++)
            for (int h = 0; h < heads; h++)
                set(scores, (long) h * visible + j, scale * k.dot(q, (long) h * headDim, kk, (long) j * width + (long) h * headDim, headDim));
        for (int h = 0; h < heads; h++) {
            long row = (long) h * visible;
            float max = k.max(scores, row, visible);
            double sum = k.sumExp(scores, row, visible, max);
            k.expShiftScale(scores, row, visible, max, (float) (1 / sum), scores, row);
            set(lse, h, (float) (max + Math.log(sum)));
            k.fill(0f, out, (long) h * headDim, headDim);
        }
        for (int j = 0; j < visible; j++)
            for (int h = 0; h < heads; h++)
                k.axpy(get(scores, (long) h * visible + j), v, (long) j * width + (long) h * headDim, out, (long) h * headDim, headDim);
    }

    /** n gaussian floats, one in eight replaced by +0 or −0. */
    private static MemorySegment segment(Arena arena, Random rnd, long n) {
        MemorySegment s = arena.allocate(n * Float.BYTES);
        for (long i = 0; i < n; i++) {
            int r = rnd.nextInt(16);
            set(s, i, r == 0 ? 0f : r == 1 ? -0f : (float) rnd.nextGaussian());
        }
        return s;
    }

    private static float get(MemorySegment s, long i) { return s.getAtIndex(ValueLayout.JAVA_FLOAT, i); }

    private static void set(MemorySegment s, long i, float v) { s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v); }
}
