package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;

import tern.runtime.Bf16;
import tern.runtime.DType;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * The kernels' bf16 instantiations (dtype.h) against their f32 ones, and the bf16 products against a double
 * reference. Every templated kernel loads its operands to f32, computes in f32 exactly as the f32 kernel
 * does and rounds once on the store, so on inputs that are already bf16 values (held as f32 on the
 * reference side) the bf16 result must be the f32 kernel's result rounded to nearest even, bit for bit
 * (f32 outputs such as rstd, lse and weight gradients: equal bits). The f32 kernels are held to double
 * references by LayersTest, ElementwiseTest, TernaryTest and TensorCoreAttentionTest, so the bf16 error
 * is theirs plus one rounding, at most 2⁻⁸ relative ({@link Bf16#UNIT_ROUNDOFF}). Where an intermediate
 * is stored (the fused residual sum) the reference rounds it too. The products go to cuBLAS, whose
 * summation order we do not know: each element within U·|ref| + (1 + U)·(k + 1)·2⁻²⁴·Σ|a b| (exact bf16
 * products, f32 sums of k terms, one rounding of the output). Skips without an sm_80+ device.
 */
@AddLifecycleHook(Bf16KernelsTest.WithBf16Gpu.class)
class Bf16KernelsTest {
    private static CudaBackend cuda;

    /** Skips the class without CUDA or below sm_80 (no bf16 tensor-core path there). */
    static final class WithBf16Gpu implements SkipExecutionHook {
        @Override
        public SkipResult shouldBeSkipped(LifecycleContext context) {
            if (!CudaBackend.isAvailable()) return SkipResult.skip("no CUDA device: GPU tests skipped");
            if (CudaContext.archOf(0) < 80) return SkipResult.skip("bf16 activations need sm_80+");
            return SkipResult.doNotSkip();
        }
    }

    static synchronized CudaBackend cuda() {
        if (cuda == null) cuda = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS_BF16, CudaBackend.AttentionPath.BF16, true);
        assertEquals(DType.BF16, cuda.activationType(), "bf16 products and attention store bf16 activations");
        return cuda;
    }

    @AfterContainer
    static synchronized void close() {
        if (cuda != null) cuda.close();
        cuda = null;
    }

    /** The same bf16 values as an f32 tensor (the reference side) and a bf16 tensor. */
    record Pair(Tensor f, Tensor h) implements AutoCloseable {
        @Override public void close() { f.close(); h.close(); }
    }

    static Pair pair(float[] values, int... shape) {
        float[] r = new float[values.length];
        for (int i = 0; i < r.length; i++) r[i] = Bf16.round(values[i]);
        Tensor f = cuda().upload(r, shape), h = cuda().zeros(DType.BF16, shape);
        cuda().convert(f, h);
        return new Pair(f, h);
    }

    static Pair zeros(int... shape) {
        return new Pair(cuda().zeros(DType.F32, shape), cuda().zeros(DType.BF16, shape));
    }

    static float[] random(Random rnd, int n, float scale) { return Gpu.random(rnd, n, scale); }

    /** The bf16 tensor holds exactly the f32 tensor's values rounded to nearest even. */
    static void assertRounded(Pair p, String what) {
        float[] got = cuda().download(p.h), ref = cuda().download(p.f);
        for (int i = 0; i < ref.length; i++) {
            float want = Bf16.round(ref[i]);
            if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(want))
                fail(what + "[" + i + "] of " + ref.length + ": bf16 kernel " + got[i] + ", f32 kernel " + ref[i] + " rounds to " + want);
        }
    }

    static void assertSameBits(Tensor got, Tensor ref, String what) {
        assertArrayEquals(cuda().download(ref), cuda().download(got), what);
    }

    // ---- conversions ---------------------------------------------------------------------------------

    @Property(tries = 20)
    void conversionRoundsToNearestEvenAndWidensExactly(@ForAll @IntRange(min = 1, max = 5000) int n, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] v = new float[n];
        float[] special = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, -3.4e38f,
                Float.MIN_VALUE, 1e-40f, 1f + 0x1p-8f, 1f + 3 * 0x1p-8f, -(1f + 0x1p-8f), 0x1p-126f, 65504f};
        for (int i = 0; i < n; i++)
            v[i] = rnd.nextInt(8) == 0 ? special[rnd.nextInt(special.length)]
                    : (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(20) - 10));
        try (Tensor f = cuda().upload(v, n); Tensor h = cuda().zeros(DType.BF16, n); Tensor back = cuda().zeros(DType.F32, n);
             Tensor half = cuda().zeros(DType.F16, n)) {
            cuda().convert(f, h);
            cuda().convert(h, back);
            cuda().convert(f, half);
            float[] got = cuda().download(h), widened = cuda().download(back), halves = cuda().download(half);
            for (int i = 0; i < n; i++) {
                float want = Bf16.toFloat(Bf16.bits(v[i]));
                if (Float.isNaN(v[i])) {
                    assertTrue(Float.isNaN(got[i]) && Float.isNaN(widened[i]), "NaN stays NaN at " + i);
                    continue;
                }
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[i]), "bf16 of " + v[i] + " at " + i);
                assertEquals(Float.floatToRawIntBits(got[i]), Float.floatToRawIntBits(widened[i]), "bf16 → f32 is exact at " + i);
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(v[i])), halves[i], "f16 of " + v[i] + " at " + i);
            }
        }
    }

    // ---- elementwise ----------------------------------------------------------------------------------

    @Property(tries = 15)
    void elementwiseKernelsAreTheF32KernelsRounded(@ForAll @IntRange(min = 1, max = 70_000) int n, @ForAll long seed) {
        Random rnd = new Random(seed);
        try (Pair a = pair(random(rnd, n, 3f), n); Pair b = pair(random(rnd, n, 3f), n); Pair g = pair(random(rnd, n, 1f), n);
             Pair sum = zeros(n); Pair sw = zeros(n); Pair dg = zeros(n); Pair du = zeros(n);
             Tensor yF = cuda().upload(random(rnd, n, 1f), n); Tensor yH = cuda().zeros(DType.F32, n)) {
            CudaBackend c = cuda();
            c.add(a.f, b.f, sum.f);
            c.add(a.h, b.h, sum.h);
            assertRounded(sum, "add");
            try (Pair rs = pair(c.download(sum.f), n)) {                 // scale reads a stored (rounded) value
                c.scale(rs.f, 0.37f);
                c.scale(rs.h, 0.37f);
                assertRounded(rs, "scale");
            }
            c.swiglu(a.f, b.f, sw.f);
            c.swiglu(a.h, b.h, sw.h);
            assertRounded(sw, "swiglu");
            c.swigluBackward(g.f, a.f, b.f, dg.f, du.f);
            c.swigluBackward(g.h, a.h, b.h, dg.h, du.h);
            assertRounded(dg, "swiglu dgate");
            assertRounded(du, "swiglu dup");
            c.copy(yF, yH);
            c.axpy(-0.75f, g.f, yF);                  // a bf16 gradient into an f32 accumulator: no rounding at all
            c.axpy(-0.75f, g.h, yH);
            assertSameBits(yH, yF, "axpy bf16 → f32");
            c.fill(sw.h, -1.5f);
            float[] filled = c.download(sw.h);
            for (float v : filled) assertEquals(-1.5f, v);
            double sf = c.sumOfSquares(g.f), sh = c.sumOfSquares(g.h);
            assertEquals(sf, sh, 1e-12 * sf, "Σ x² of the same values (double sums in another order)");
            assertTrue(c.allFinite(g.h));
        }
    }

    // ---- layers ----------------------------------------------------------------------------------------

    @Property(tries = 15)
    void rmsnormFusedWithTheResidualAddIsAddThenNormRounded(@ForAll @IntRange(min = 1, max = 70) int rows,
                                                            @ForAll @IntRange(min = 1, max = 900) int dim,
                                                            @ForAll boolean aliasAddend, @ForAll long seed) {
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        float eps = 1e-5f;
        try (Pair x = pair(random(rnd, rows * dim, 2f), rows, dim); Pair y = pair(random(rnd, rows * dim, 2f), rows, dim);
             Pair g = pair(random(rnd, rows * dim, 1f), rows, dim); Pair addend = pair(random(rnd, rows * dim, 1f), rows, dim);
             Tensor w = c.upload(random(rnd, dim, 1.5f), dim);
             Pair sum = zeros(rows, dim); Pair out = zeros(rows, dim); Pair dx = zeros(rows, dim);
             Tensor rstdF = c.zeros(DType.F32, rows); Tensor rstdH = c.zeros(DType.F32, rows);
             Tensor dwF = c.upload(random(rnd, dim, 1f), dim); Tensor dwH = c.zeros(DType.F32, dim)) {
            c.add(x.f, y.f, sum.f);
            c.addRmsnorm(x.h, y.h, w, eps, sum.h, out.h, rstdH);
            assertRounded(sum, "fused residual sum");
            try (Pair s = pair(c.download(sum.f), rows, dim)) {       // the reference norms the rounded sum
                c.rmsnorm(s.f, w, eps, out.f, rstdF);
                assertRounded(out, "fused rmsnorm");
                assertSameBits(rstdH, rstdF, "rstd");
                c.copy(dwF, dwH);
                c.rmsnormBackward(g.f, s.f, w, rstdF, addend.f, aliasAddend ? addend.f : dx.f, dwF);
                c.rmsnormBackward(g.h, sum.h, w, rstdH, addend.h, aliasAddend ? addend.h : dx.h, dwH);
                assertRounded(aliasAddend ? addend : dx, "rmsnorm dx + addend" + (aliasAddend ? " (in place)" : ""));
                assertSameBits(dwH, dwF, "rmsnorm dweight (f32, bands in order)");
                c.rmsnorm(x.f, w, eps, out.f, rstdF);                // the plain norm too
                c.rmsnorm(x.h, w, eps, out.h, rstdH);
                assertRounded(out, "rmsnorm");
                c.rmsnormBackward(g.f, x.f, w, rstdF, dx.f, dwF);
                c.rmsnormBackward(g.h, x.h, w, rstdH, dx.h, dwH);
                assertRounded(dx, "rmsnorm dx");
            }
        }
    }

    @Property(tries = 15)
    void ropeEmbeddingAndCrossEntropyAreTheF32KernelsRounded(@ForAll @IntRange(min = 1, max = 3) int batch,
                                                             @ForAll @IntRange(min = 1, max = 90) int seq,
                                                             @ForAll @IntRange(min = 1, max = 4) int heads,
                                                             @ForAll @IntRange(min = 1, max = 40) int halfDim,
                                                             @ForAll @IntRange(min = 2, max = 3000) int vocab, @ForAll long seed) {
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        int hd = 2 * halfDim, rows = batch * seq, width = heads * hd;
        int[] ids = new int[rows], targets = new int[rows];
        for (int i = 0; i < rows; i++) {
            ids[i] = rnd.nextInt(Math.min(vocab, 50));                 // repeated ids: the backward sums them
            targets[i] = rnd.nextInt(9) == 0 ? -1 : rnd.nextInt(vocab);
        }
        try (Pair x = pair(random(rnd, rows * width, 2f), rows, width); Pair r = zeros(rows, width); Pair back = zeros(rows, width);
             Tensor table = c.upload(random(rnd, 50 * width, 1f), 50, width); Pair emb = zeros(rows, width);
             Tensor dtF = c.zeros(DType.F32, 50, width); Tensor dtH = c.zeros(DType.F32, 50, width);
             Tensor logits = c.upload(random(rnd, rows * vocab, 6f), rows, vocab); Pair dl = zeros(rows, vocab);
             Pair logits16 = pair(c.download(logits), rows, vocab); Pair dl16 = zeros(rows, vocab)) {
            c.rope(x.f, seq, heads, hd, 10000f, 3, false, r.f);
            c.rope(x.h, seq, heads, hd, 10000f, 3, false, r.h);
            assertRounded(r, "rope");
            c.rope(x.f, seq, heads, hd, 10000f, 0, true, back.f);
            c.rope(x.h, seq, heads, hd, 10000f, 0, true, back.h);
            assertRounded(back, "inverse rope");
            c.embedding(table, ids, emb.f);
            c.embedding(table, ids, emb.h);
            assertRounded(emb, "embedding");
            c.embeddingBackward(x.f, ids, dtF);
            c.embeddingBackward(x.h, ids, dtH);
            assertSameBits(dtH, dtF, "embedding backward from bf16 gradients (f32 sums in position order)");
            float lossF = c.crossEntropy(logits, targets, dl.f, 0.5f);
            float lossH = c.crossEntropy(logits, targets, dl.h, 0.5f);    // f32 logits, bf16 gradient (the LM head's chunks)
            assertEquals(lossF, lossH, "loss from the same f32 logits");
            assertRounded(dl, "cross-entropy gradient");
            float loss16F = c.crossEntropy(logits16.f, targets, dl16.f, 1f);
            float loss16H = c.crossEntropy(logits16.h, targets, dl16.h, 1f);
            assertEquals(loss16F, loss16H, "loss from bf16 logits");
            assertRounded(dl16, "cross-entropy gradient of bf16 logits");
        }
    }

    @Property(tries = 12)
    void tensorCoreAttentionOnBf16ActivationsIsTheF32PathRounded(@ForAll @IntRange(min = 1, max = 2) int batch,
                                                                 @ForAll @IntRange(min = 1, max = 150) int seq,
                                                                 @ForAll @IntRange(min = 1, max = 3) int heads,
                                                                 @ForAll @IntRange(min = 0, max = 3) int dimChoice, @ForAll long seed) {
        int hd = new int[] {16, 64, 80, 128}[dimChoice];
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        int rows = batch * seq, width = heads * hd;
        try (Pair q = pair(random(rnd, rows * width, 1.5f), rows, width); Pair k = pair(random(rnd, rows * width, 1.5f), rows, width);
             Pair v = pair(random(rnd, rows * width, 1f), rows, width); Pair g = pair(random(rnd, rows * width, 1f), rows, width);
             Pair out = zeros(rows, width); Pair dq = zeros(rows, width); Pair dk = zeros(rows, width); Pair dv = zeros(rows, width);
             Tensor lseF = c.zeros(DType.F32, batch, heads, seq); Tensor lseH = c.zeros(DType.F32, batch, heads, seq)) {
            c.attention(q.f, k.f, v.f, batch, seq, seq, heads, hd, out.f, lseF);
            c.attention(q.h, k.h, v.h, batch, seq, seq, heads, hd, out.h, lseH);
            assertRounded(out, "attention out");
            assertSameBits(lseH, lseF, "attention lse");
            try (Pair o = pair(c.download(out.f), rows, width)) {          // the backward reads the stored (rounded) out
                c.attentionBackward(g.f, q.f, k.f, v.f, o.f, lseF, batch, seq, seq, heads, hd, dq.f, dk.f, dv.f);
                c.attentionBackward(g.h, q.h, k.h, v.h, out.h, lseH, batch, seq, seq, heads, hd, dq.h, dk.h, dv.h);
            }
            assertRounded(dq, "attention dq");
            assertRounded(dk, "attention dk");
            assertRounded(dv, "attention dv");
        }
    }

    // ---- 16-byte accesses (vec8.h) -------------------------------------------------------------------------

    /**
     * A tensor holding t's values one element past a 16-byte boundary (a view into a larger allocation, closed
     * with it): the kernels must take their element-by-element path there, whose results are defined to be the
     * 16-byte path's bit for bit (the same arithmetic in the same order, only the loads differ).
     */
    record Shifted(Tensor whole, Tensor view) implements AutoCloseable {
        static Shifted of(Tensor t) {
            CudaBackend c = cuda();
            Tensor whole = c.zeros(t.dtype(), (int) t.size() + 1);
            Tensor view = Tensor.wrap(whole.storage(), whole.offsetBytes() + t.dtype().bytesFor(1), t.dtype(), false, t.shape());
            c.copy(t, view);
            return new Shifted(whole, view);
        }
        @Override public void close() { whole.close(); }
    }

    static void assertSameValues(Tensor got, Tensor ref, String what) {
        float[] g = cuda().download(got), r = cuda().download(ref);
        for (int i = 0; i < r.length; i++)
            if (Float.floatToIntBits(g[i]) != Float.floatToIntBits(r[i]))
                fail(what + "[" + i + "] of " + r.length + ": unaligned " + g[i] + ", aligned " + r[i]);
    }

    @Property(tries = 12)
    void unalignedTensorsGiveTheAlignedResultsBitForBit(@ForAll @IntRange(min = 1, max = 40) int rows,
                                                        @ForAll @IntRange(min = 1, max = 96) int dim8,
                                                        @ForAll @IntRange(min = 1, max = 3) int heads,
                                                        @ForAll @IntRange(min = 1, max = 8) int half8,
                                                        @ForAll boolean bf16, @ForAll long seed) {
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        int dim = 8 * dim8, hd = 16 * half8, width = heads * hd;
        float eps = 1e-5f;
        List<AutoCloseable> open = new ArrayList<>();
        try {
            java.util.function.BiFunction<Float, int[], Tensor> make = (scale, shape) -> {
                Pair p = pair(random(rnd, java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b), scale), shape);
                open.add(p);
                return bf16 ? p.h : p.f;
            };
            java.util.function.Function<Tensor, Tensor> like = t -> {
                Tensor z = c.zeros(t.dtype(), t.shape());
                open.add(z);
                return z;
            };
            java.util.function.Function<Tensor, Tensor> shifted = t -> {
                Shifted s = Shifted.of(t);
                open.add(s);
                return s.view;
            };
            Tensor x = make.apply(2f, new int[] {rows, dim}), y = make.apply(2f, new int[] {rows, dim});
            Tensor g = make.apply(1f, new int[] {rows, dim}), addend = make.apply(1f, new int[] {rows, dim});
            Tensor w = c.upload(random(rnd, dim, 1.5f), dim);
            open.add(w);
            Tensor xs = shifted.apply(x), ys = shifted.apply(y), gs = shifted.apply(g), as = shifted.apply(addend), ws = shifted.apply(w);
            Tensor sum = like.apply(x), out = like.apply(x), dx = like.apply(x), sumS = shifted.apply(sum), outS = shifted.apply(out),
                    dxS = shifted.apply(dx);
            Tensor rstd = c.zeros(DType.F32, rows), rstdS = c.zeros(DType.F32, rows), dw = c.zeros(DType.F32, dim), dwS = c.zeros(DType.F32, dim);
            open.add(rstd); open.add(rstdS); open.add(dw); open.add(dwS);
            c.addRmsnorm(x, y, w, eps, sum, out, rstd);
            c.addRmsnorm(xs, ys, ws, eps, sumS, outS, rstdS);
            assertSameValues(sumS, sum, "residual sum");
            assertSameValues(outS, out, "fused rmsnorm");
            assertSameValues(rstdS, rstd, "rstd");
            c.rmsnormBackward(g, sum, w, rstd, addend, dx, dw);
            c.rmsnormBackward(gs, sumS, ws, rstdS, as, dxS, dwS);
            assertSameValues(dxS, dx, "rmsnorm dx + addend");
            c.rmsnorm(x, w, eps, out, rstd);
            c.rmsnorm(xs, ws, eps, outS, rstdS);
            assertSameValues(outS, out, "rmsnorm");

            long n = (long) rows * dim - rnd.nextInt(8);                // a tail past the last group of eight
            Tensor gate = x.reshape(rows * dim).slice(0, (int) n), up = y.reshape(rows * dim).slice(0, (int) n);
            Tensor gateS = xs.reshape(rows * dim).slice(0, (int) n), upS = ys.reshape(rows * dim).slice(0, (int) n);
            Tensor d = g.reshape(rows * dim).slice(0, (int) n), dS = gs.reshape(rows * dim).slice(0, (int) n);
            Tensor o = out.reshape(rows * dim).slice(0, (int) n), oS = outS.reshape(rows * dim).slice(0, (int) n);
            Tensor o2 = dx.reshape(rows * dim).slice(0, (int) n), o2S = dxS.reshape(rows * dim).slice(0, (int) n);
            c.swiglu(gate, up, o);
            c.swiglu(gateS, upS, oS);
            assertSameValues(oS, o, "swiglu");
            c.swigluBackward(d, gate, up, o, o2);
            c.swigluBackward(dS, gateS, upS, oS, o2S);
            assertSameValues(oS, o, "swiglu dgate");
            assertSameValues(o2S, o2, "swiglu dup");

            Tensor q = make.apply(2f, new int[] {rows, width}), qs = shifted.apply(q);
            Tensor r = like.apply(q), rS = shifted.apply(r);
            int seq = 1 + rnd.nextInt(rows);
            c.rope(q, seq, heads, hd, 10000f, 5, false, r);
            c.rope(qs, seq, heads, hd, 10000f, 5, false, rS);
            assertSameValues(rS, r, "rope");
            c.rope(q, seq, heads, hd, 10000f, 0, true, r);
            c.rope(qs, seq, heads, hd, 10000f, 0, true, rS);
            assertSameValues(rS, r, "inverse rope");
        } finally {
            for (int i = open.size() - 1; i >= 0; i--) {
                try { open.get(i).close(); } catch (Exception e) { throw new RuntimeException(e); }
            }
        }
    }

    // ---- quantizers -------------------------------------------------------------------------------------

    @Property(tries = 15)
    void quantizersOnTheDeviceMatchTheHostScalesAndRoundOnce(@ForAll @IntRange(min = 1, max = 200) int rows,
                                                             @ForAll @IntRange(min = 1, max = 300) int cols,
                                                             @ForAll @IntRange(min = 1, max = 4) int shards,
                                                             @ForAll boolean byColumns, @ForAll @IntRange(min = 2, max = 8) int bits,
                                                             @ForAll long seed) {
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        ShardAxis axis = byColumns ? ShardAxis.COLS : ShardAxis.ROWS;
        int s = Math.min(shards, byColumns ? cols : rows);
        try (Tensor w = c.upload(random(rnd, rows * cols, 0.1f), rows, cols); Pair q = zeros(rows, cols);
             Tensor onDevice = c.zeros(DType.F32, rows, cols);
             Pair x = pair(random(rnd, rows * cols, 4f), rows, cols); Pair sq = zeros(rows, cols)) {
            c.quantizeTernary(w, s, axis, 1e-5f, q.f);
            c.quantizeTernaryInto(w, s, axis, 1e-5f, onDevice);
            c.quantizeTernaryInto(w, s, axis, 1e-5f, q.h);
            assertSameBits(onDevice, q.f, "γ·T with the scales computed on the device");
            assertRounded(q, "γ·T as a bf16 operand");
            for (Granularity gr : new Granularity[] {Granularity.ROW, Granularity.TENSOR}) {
                c.quantizeSymmetric(x.f, bits, gr, sq.f);
                c.quantizeSymmetric(x.h, bits, gr, sq.h);
                assertRounded(sq, bits + "-bit " + gr + " fake quantization");
            }
        }
    }

    /**
     * The multi-tensor forms (one launch for every weight of a step) give what the one-tensor ops give: γ·T with
     * the host's scales bit for bit (f32) or rounded once (bf16), at up to 8 shards along either axis; weights
     * rounded to bf16; gradients zeroed.
     */
    @Property(tries = 12)
    void manyTensorsAtOnceEqualOneByOne(@ForAll @IntRange(min = 1, max = 9) int count, @ForAll @IntRange(min = 1, max = 8) int shards,
                                        @ForAll long seed) {
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        List<Tensor> ws = new ArrayList<>(), f32 = new ArrayList<>(), h = new ArrayList<>(), one = new ArrayList<>(), ref = new ArrayList<>();
        List<ShardAxis> axes = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                int rows = shards + rnd.nextInt(300), cols = shards + rnd.nextInt(9000 / rows + 1);
                ws.add(c.upload(random(rnd, rows * cols, 0.2f), rows, cols));
                f32.add(c.zeros(DType.F32, rows, cols));
                h.add(c.zeros(DType.BF16, rows, cols));
                one.add(c.zeros(DType.BF16, rows, cols));
                ref.add(c.zeros(DType.F32, rows, cols));
                axes.add(rnd.nextBoolean() ? ShardAxis.ROWS : ShardAxis.COLS);
            }
            c.quantizeTernaryAllInto(ws, shards, axes, 1e-5f, f32);
            c.quantizeTernaryAllInto(ws, shards, axes, 1e-5f, h);
            c.convertAll(ws, one);
            for (int i = 0; i < count; i++) {
                c.quantizeTernary(ws.get(i), shards, axes.get(i), 1e-5f, ref.get(i));
                assertSameBits(f32.get(i), ref.get(i), "γ·T of weight " + i + " (" + axes.get(i) + ")");
                assertRounded(new Pair(ref.get(i), h.get(i)), "bf16 γ·T of weight " + i);
                assertRounded(new Pair(ws.get(i), one.get(i)), "weight " + i + " rounded to bf16");
            }
            c.zeroAll(ws);
            for (Tensor w : ws) for (float v : c.download(w)) assertEquals(0f, v);
        } finally {
            for (List<Tensor> l : List.of(ws, f32, h, one, ref)) l.forEach(Tensor::close);
        }
    }

    // ---- products ----------------------------------------------------------------------------------------

    /** Each element of c = op(a)·op(b) (+ c0) within U·|ref| + (1 + U)(k + 1)2⁻²⁴(Σ|a b| + |c0|). */
    static void assertProduct(float[] got, double[] a, boolean transA, double[] b, boolean transB, double[] c0,
                              int m, int n, int k, boolean bf16Out, String what) {
        assertProduct(got, a, transA, b, transB, c0, m, n, k, bf16Out, 1, what);
    }

    /** As above on every {@code rowStep}-th row (large products: the reference is m·n·k double operations). */
    static void assertProduct(float[] got, double[] a, boolean transA, double[] b, boolean transB, double[] c0,
                              int m, int n, int k, boolean bf16Out, int rowStep, String what) {
        double u = bf16Out ? Bf16.UNIT_ROUNDOFF : 0;
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < m; i += rowStep)
            for (int j = 0; j < n; j++) {
                double ref = c0 == null ? 0 : c0[i * n + j], mag = Math.abs(ref);
                for (int t = 0; t < k; t++) {
                    double p = (transA ? a[t * m + i] : a[i * k + t]) * (transB ? b[j * k + t] : b[t * n + j]);
                    ref += p;
                    mag += Math.abs(p);
                }
                double bound = u * Math.abs(ref) + (1 + u) * (k + 1) * 0x1p-24 * mag;
                if (!(Math.abs(got[i * n + j] - ref) <= bound) && bad.size() < 5)
                    bad.add(String.format("[%d,%d] %g vs %g (bound %.3g)", i, j, got[i * n + j], ref, bound));
            }
        assertTrue(bad.isEmpty(), what + ": " + bad);
    }

    static double[] rounded(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = Bf16.round(a[i]);
        return d;
    }

    /**
     * Outputs of at least as many 128×128 tiles as the device has multiprocessors (every activation product of
     * training) are written by cuBLAS in bf16 directly; smaller ones (the property below) go through f32.
     */
    @net.jqwik.api.Example
    void largeProductsWrittenInBf16DirectlyAreRoundedOnce() {
        Random rnd = new Random(11);
        CudaBackend c = cuda();
        int m = 4096, n = 128 * Math.max(8, (c.multiprocessors() + 31) / 32), k = 384;
        assertTrue((m / 128) * (n / 128) >= c.multiprocessors(), "the shape takes the direct path");
        float[] xs = random(rnd, m * k, 1f), ws = random(rnd, n * k, 0.5f);
        try (Pair x = pair(xs, m, k); Tensor w = c.upload(ws, n, k); Pair y = zeros(m, n)) {
            c.matmul(x.h, false, w, true, y.h, false);
            assertProduct(c.download(y.h), rounded(xs), false, rounded(ws), true, null, m, n, k, true, 61, "large y = x·Wᵀ (bf16 out)");
        }
    }

    /**
     * The fp16 path (--compute fp16): products of fp16 activations and f32 weights rounded to fp16 once, fp16
     * or f32 out; each element within 2⁻¹¹·|ref| (one fp16 rounding, when fp16 out) + (1 + u)(k + 1)2⁻²⁴·Σ|a b|.
     */
    @Property(tries = 8)
    void fp16ProductsWithinTheirRoundings(@ForAll @IntRange(min = 5, max = 150) int m, @ForAll @IntRange(min = 1, max = 200) int n,
                                         @ForAll @IntRange(min = 1, max = 300) int k, @ForAll long seed) {
        Random rnd = new Random(seed);
        try (CudaBackend c = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS_F16, CudaBackend.AttentionPath.BF16, true)) {
            assertEquals(DType.F16, c.activationType());
            float[] xs = random(rnd, m * k, 1f), ws = random(rnd, n * k, 0.5f);
            double[] xr = new double[xs.length], wr = new double[ws.length];
            for (int i = 0; i < xs.length; i++) xr[i] = Float.float16ToFloat(Float.floatToFloat16(xs[i]));
            for (int i = 0; i < ws.length; i++) wr[i] = Float.float16ToFloat(Float.floatToFloat16(ws[i]));
            try (Tensor xf = c.upload(xs, m, k); Tensor x = c.zeros(DType.F16, m, k); Tensor w = c.upload(ws, n, k);
                 Tensor y = c.zeros(DType.F16, m, n); Tensor yf = c.zeros(DType.F32, m, n)) {
                c.convert(xf, x);
                c.matmul(x, false, w, true, y, false);
                c.matmul(x, false, w, true, yf, false);
                float[] got = c.download(y), gotF = c.download(yf);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double ref = 0, mag = 0;
                        for (int t = 0; t < k; t++) {
                            double p = xr[i * k + t] * wr[j * k + t];
                            ref += p;
                            mag += Math.abs(p);
                        }
                        double f32Bound = (1 + 0x1p-11) * (k + 1) * 0x1p-24 * mag;
                        assertTrue(Math.abs(gotF[i * n + j] - ref) <= f32Bound, "fp16 operands, f32 out [" + i + "," + j + "]");
                        assertTrue(Math.abs(got[i * n + j] - ref) <= 0x1p-11 * Math.abs(ref) + f32Bound + 0x1p-25,
                                "fp16 out [" + i + "," + j + "]: " + got[i * n + j] + " vs " + ref);
                    }
            }
        }
    }

    @Property(tries = 15)
    void bf16ProductsReadBf16OperandsWithinTheirRoundings(@ForAll @IntRange(min = 5, max = 150) int m,
                                                          @ForAll @IntRange(min = 1, max = 200) int n,
                                                          @ForAll @IntRange(min = 1, max = 300) int k, @ForAll long seed) {
        Random rnd = new Random(seed);
        CudaBackend c = cuda();
        float[] xs = random(rnd, m * k, 1f), ws = random(rnd, n * k, 0.5f), dys = random(rnd, m * n, 1f), acc = random(rnd, n * k, 1f);
        try (Pair x = pair(xs, m, k); Tensor w = c.upload(ws, n, k); Pair y = zeros(m, n); Pair dy = pair(dys, m, n);
             Pair dx = zeros(m, k); Tensor dw = c.upload(acc, n, k)) {
            c.matmul(x.h, false, w, true, y.h, false);                   // y = x·Wᵀ, W rounded to bf16 on the way in
            assertProduct(c.download(y.h), rounded(xs), false, rounded(ws), true, null, m, n, k, true, "y = x·Wᵀ (bf16 out)");
            c.matmul(dy.h, false, w, false, dx.h, false);                // dx = dy·W
            assertProduct(c.download(dx.h), rounded(dys), false, rounded(ws), false, null, m, k, n, true, "dx = dy·W");
            c.matmul(dy.h, true, x.h, false, dw, true);                  // dW += dyᵀ·x into the f32 gradient
            double[] c0 = Gpu.toDouble(acc);
            assertProduct(c.download(dw), rounded(dys), true, rounded(xs), false, c0, n, k, m, false, "dW += dyᵀ·x (f32 out)");
            try (Tensor yf = c.zeros(DType.F32, m, n)) {                  // bf16 operands, f32 result
                c.matmul(x.h, false, w, true, yf, false);
                assertProduct(c.download(yf), rounded(xs), false, rounded(ws), true, null, m, n, k, false, "x·Wᵀ (f32 out)");
            }
            TernaryWeights tw = c.packTernary(w, 1, ShardAxis.ROWS, 1e-5f);
            try (tw; Tensor dense = c.zeros(DType.F32, n, k)) {
                c.unpackTernary(tw, dense);                              // γT: bf16 only in γ's rounding
                float[] gt = c.download(dense);
                c.ternaryMatmul(x.h, tw, y.h, false);
                assertProduct(c.download(y.h), rounded(xs), false, rounded(gt), true, null, m, n, k, true, "ternary y = x·(γT)ᵀ");
                c.ternaryMatmulT(dy.h, tw, dx.h, false);
                assertProduct(c.download(dx.h), rounded(dys), false, rounded(gt), false, null, m, k, n, true, "ternary dx = dy·γT");
            }
        }
    }
}
