package tern.runtime;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.simd.CpuBackend;

import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finite-difference checks of the autograd on composite graphs: a pre-norm attention block and a pre-norm
 * SwiGLU MLP block, each with its residual connection, and the same blocks with ternary linears under the
 * straight-through rule. The scalar checked is L = Σ out ⊙ R for a fixed random R, so ∂L/∂out = R.
 *
 * <p>Tolerance: the forward runs in f32, so a central difference with step h has rounding error about
 * 2⁻²⁴·Σ|out ⊙ R|/h plus truncation O(h²). With h = 1e-2 we require |fd − analytic| ≤ 2e-3·scale + 8·2⁻²⁴·Σ|out ⊙ R|/h
 * + ½|D(2h) − D(h)|,
 * scale the larger magnitude of the two at that coordinate; {@link #checkCoordinates} says why, and which
 * coordinates differences cannot check.
 */
class TapeGradientTest {
    private static final Backend CPU = new CpuBackend();
    private static final float H = 1e-2f;

    /** One block: parameters, an input, and the forward as a function of the tape. */
    private record Graph(List<Parameter> params, Tensor input, BiFunction<Tape, Var, Var> forward, int[] outShape) {}

    @Property(tries = 12)   // each try runs ~60 forwards of a small block; 12 keeps the class under a few seconds
    void attentionBlockGradients(@ForAll @IntRange(min = 1, max = 2) int batch,
                                 @ForAll @IntRange(min = 1, max = 5) int seq,
                                 @ForAll @IntRange(min = 1, max = 3) int heads,
                                 @ForAll @IntRange(min = 1, max = 3) int halfHeadDim,
                                 @ForAll @IntRange(min = 0, max = 1000) int seed) {
        int headDim = 2 * halfHeadDim, dim = heads * headDim;
        Random rnd = new Random(seed);
        Parameter norm = param("norm", rnd, 1.0f, 0.2f, dim);
        Parameter wq = param("q", rnd, 0f, 0.4f, dim, dim), wk = param("k", rnd, 0f, 0.4f, dim, dim);
        Parameter wv = param("v", rnd, 0f, 0.4f, dim, dim), wo = param("o", rnd, 0f, 0.4f, dim, dim);
        Tensor x = random(rnd, 0f, 1f, batch * seq, dim);
        Graph g = new Graph(List.of(norm, wq, wk, wv, wo), x, (tape, in) -> {
            Var h = tape.rmsnorm(in, tape.param(norm), 1e-5f);
            Var q = tape.rope(tape.linear(h, tape.param(wq)), seq, heads, headDim, 10000f, 0);
            Var k = tape.rope(tape.linear(h, tape.param(wk)), seq, heads, headDim, 10000f, 0);
            Var v = tape.linear(h, tape.param(wv));
            Var a = tape.attention(q, k, v, batch, seq, heads, headDim);
            return tape.add(in, tape.linear(a, tape.param(wo)));
        }, new int[]{batch * seq, dim});
        check(g, rnd);
    }

    @Property(tries = 12)
    void mlpBlockGradients(@ForAll @IntRange(min = 1, max = 6) int rows,
                           @ForAll @IntRange(min = 1, max = 12) int dim,
                           @ForAll @IntRange(min = 1, max = 20) int inner,
                           @ForAll @IntRange(min = 0, max = 1000) int seed) {
        Random rnd = new Random(seed);
        Parameter norm = param("norm", rnd, 1.0f, 0.2f, dim);
        Parameter gate = param("gate", rnd, 0f, 0.5f, inner, dim), up = param("up", rnd, 0f, 0.5f, inner, dim);
        Parameter down = param("down", rnd, 0f, 0.5f, dim, inner);
        Tensor x = random(rnd, 0f, 1f, rows, dim);
        Graph g = new Graph(List.of(norm, gate, up, down), x, (tape, in) -> {
            Var h = tape.rmsnorm(in, tape.param(norm), 1e-5f);
            Var act = tape.swiglu(tape.linear(h, tape.param(gate)), tape.linear(h, tape.param(up)));
            return tape.add(in, tape.linear(act, tape.param(down)));
        }, new int[]{rows, dim});
        check(g, rnd);
    }

    /**
     * Ternary linear under straight-through: the weight gradient equals the float gradient taken at the
     * dequantized weights γT (checked by finite differences of the float graph at γT), and the input
     * gradient is exact for the ternary forward.
     */
    @Property(tries = 20)
    void ternaryLinearStraightThrough(@ForAll @IntRange(min = 1, max = 7) int rows,
                                      @ForAll @IntRange(min = 1, max = 40) int in,
                                      @ForAll @IntRange(min = 1, max = 30) int out,
                                      @ForAll @IntRange(min = 0, max = 1000) int seed) {
        Random rnd = new Random(seed);
        Parameter w = param("w", rnd, 0f, 0.5f, out, in);
        Tensor x = random(rnd, 0f, 1f, rows, in);
        Tensor r = random(rnd, 0f, 1f, rows, out);
        try (TernaryWeights packed = CPU.packTernary(w.value, 1, ShardAxis.ROWS, 1e-5f);
             Tensor deq = CPU.zeros(DType.F32, out, in)) {
            CPU.unpackTernary(packed, deq);
            Tensor dxTernary, dwTernary;
            try (Tape tape = new Tape(CPU)) {
                Var xin = tape.input(x);
                Var y = tape.linearTernary(xin, tape.param(w), packed);
                tape.backward(y, r);
                dxTernary = copy(xin.grad());
                dwTernary = copy(w.grad);
            }
            // The same graph in float at W = γT: its gradients are what straight-through must give.
            Parameter wf = new Parameter("wf", copy(deq), CPU.zeros(DType.F32, out, in), true);
            try (Tape tape = new Tape(CPU)) {
                Var xin = tape.input(x);
                Var y = tape.linear(xin, tape.param(wf));
                tape.backward(y, r);
                assertClose(xin.grad().toFloatArray(), dxTernary.toFloatArray(), 1e-5, "dx");
                assertClose(wf.grad.toFloatArray(), dwTernary.toFloatArray(), 1e-5, "dW (straight-through)");
            }
        }
    }

    // ---- machinery ----------------------------------------------------------------------------------

    private static void check(Graph g, Random rnd) {
        Tensor r = random(rnd, 0f, 1f, g.outShape());
        for (Parameter p : g.params()) p.zeroGrad(CPU);
        float[] dx;
        try (Tape tape = new Tape(CPU)) {
            Var xin = tape.input(g.input());
            tape.backward(g.forward().apply(tape, xin), r);
            dx = xin.grad().toFloatArray();
        }
        int[] tally = new int[2];   // coordinates checked, coordinates the differences could not resolve
        double noise = 8 * 0x1p-24 * lossMagnitude(g, r) / H;
        checkCoordinates("input", g.input(), dx, g, r, rnd, noise, tally);
        for (Parameter p : g.params()) checkCoordinates(p.name, p.value, p.grad.toFloatArray(), g, r, rnd, noise, tally);
        assertTrue(tally[1] * 2 <= tally[0], () -> tally[1] + " of " + tally[0] + " coordinates unresolvable by finite differences");
    }

    /**
     * Central differences of L at a few random coordinates of {@code t} against the analytic gradient. D(h) carries
     * two errors. Rounding: each f32 output carries a few ulps, so L = Σ out ⊙ R is off by a few 2⁻²⁴·Σ|out ⊙ R|
     * and D(h) by that over 2h; {@code noise} allows 8·2⁻²⁴·Σ|out ⊙ R|/h (observed: ~3e-4 at h = 1e-2 for
     * Σ|out ⊙ R| ≈ 20, a quarter of the allowance). Truncation c·h², large where L bends sharply within h (a SiLU or RMSNorm input near its bend: one such
     * coordinate gave D = 0.0728, 0.0384, 0.0288, 0.0272 at h = 0.1, 0.05, 0.02, 0.01 against an analytic
     * 0.0269). Doubling h quadruples the truncation and halves the rounding, so (D(2h) − D(h))/3 estimates D(h)'s
     * truncation error; half of |D(2h) − D(h)| is added to the allowed error. Where the two steps disagree by more
     * than a tenth of the slope (RMSNorm of one or two features that all sit within h of zero, where L jumps),
     * differences cannot resolve the slope at all. D(h/2) is compared too: a bend narrower than h that L leaves
     * at about the height it entered (one feature at −0.0012, inside RMSNorm's √eps = 0.003 bend, followed by a
     * SwiGLU that answers ±g alike) makes D(h) ≈ D(2h) ≈ the residual's 0.60 while the slope is 9.57, which D(h/2)
     * = 1.47 gives away (in double D reaches 9.56 at h = 1e-4). Such a coordinate is counted, not checked, and {@link #check}
     * requires half of all coordinates to be checkable (one-feature blocks, where RMSNorm makes L nearly a step
     * function of the input, lose up to a third). A wrong gradient (off by a factor, a sign, a
     * missing term) still fails wherever L is smooth, since the differences do not depend on it.
     */
    private static void checkCoordinates(String name, Tensor t, float[] analytic, Graph g, Tensor r, Random rnd, double noise,
                                         int[] tally) {
        int checks = Math.min(6, (int) t.size());
        for (int c = 0; c < checks; c++) {
            int i = rnd.nextInt((int) t.size());
            double fd = centralDifference(t, i, H, g, r), wide = centralDifference(t, i, 2 * H, g, r);
            double narrow = centralDifference(t, i, H / 2, g, r);
            double scale = Math.max(Math.abs(fd), Math.abs(analytic[i]));
            double slack = 0.1 * Math.max(Math.abs(fd), 1e-2);
            tally[0]++;
            if (Math.abs(wide - fd) > slack + 2 * noise || Math.abs(narrow - fd) > slack + 3 * noise) {
                tally[1]++;
                continue;
            }
            assertTrue(Math.abs(fd - analytic[i]) <= 2e-3 * scale + noise + 0.5 * Math.abs(wide - fd),
                    () -> name + "[" + i + "]: analytic " + analytic[i] + " vs finite difference " + fd + " (2h: " + wide + ")");
        }
    }

    private static double centralDifference(Tensor t, int i, float h, Graph g, Tensor r) {
        float saved = t.get(i);
        t.set(i, saved + h);
        double plus = loss(g, r);
        t.set(i, saved - h);
        double minus = loss(g, r);
        t.set(i, saved);
        return (plus - minus) / (2.0 * h);
    }

    /** Σ |out ⊙ R| at the unperturbed point: the size of the terms whose f32 rounding L carries. */
    private static double lossMagnitude(Graph g, Tensor r) {
        try (Tape tape = new Tape(CPU, false)) {
            float[] out = g.forward().apply(tape, tape.constant(g.input())).value.toFloatArray();
            float[] w = r.toFloatArray();
            double l = 0;
            for (int i = 0; i < out.length; i++) l += Math.abs((double) out[i] * w[i]);
            return l;
        }
    }

    private static double loss(Graph g, Tensor r) {
        try (Tape tape = new Tape(CPU, false)) {
            float[] out = g.forward().apply(tape, tape.constant(g.input())).value.toFloatArray();
            float[] w = r.toFloatArray();
            double l = 0;
            for (int i = 0; i < out.length; i++) l += (double) out[i] * w[i];
            return l;
        }
    }

    private static Parameter param(String name, Random rnd, float mean, float std, int... shape) {
        return new Parameter(name, random(rnd, mean, std, shape), CPU.zeros(DType.F32, shape), true);
    }

    private static Tensor random(Random rnd, float mean, float std, int... shape) {
        Tensor t = Tensor.zeros(DType.F32, shape);
        for (long i = 0; i < t.size(); i++) t.set(i, mean + std * (float) rnd.nextGaussian());
        return t;
    }

    private static Tensor copy(Tensor t) {
        return Tensor.of(t.toFloatArray(), t.shape());
    }

    private static void assertClose(float[] expected, float[] actual, double rel, String what) {
        for (int i = 0; i < expected.length; i++) {
            double tol = rel * Math.max(1.0, Math.abs(expected[i]));
            int at = i;
            assertTrue(Math.abs(expected[i] - actual[i]) <= tol, () -> what + "[" + at + "]: " + expected[at] + " vs " + actual[at]);
        }
    }
}
