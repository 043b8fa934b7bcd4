package tern.simd;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import java.util.function.Function;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * Proves the reference's backward passes: each one must equal central finite differences of the
 * reference forward, all in double. The scalar loss is L = Σ dout ⊙ forward(inputs) for a random dout,
 * whose gradient is exactly what a backward pass returns. Step h = 1e-5: truncation error ~h²·f''' ≈ 1e-10,
 * round-off ~1e-16/h ≈ 1e-11, so a tolerance of 1e-6 (relative to the gradient's scale) is generous yet
 * catches any wrong term. Shapes are small because every input element costs two forward passes.
 */
class ReferenceGradientTest {
    private static final double H = 1e-5;
    private static final double TOLERANCE = 1e-6;

    @Property(tries = 15)
    void rmsnorm(@ForAll @IntRange(min = 1, max = 4) int rows, @ForAll @IntRange(min = 1, max = 7) int cols, @ForAll long seed) {
        Random rnd = new Random(seed);
        double[] x = random(rnd, rows * cols), w = random(rnd, cols), dout = random(rnd, rows * cols);
        double eps = 1e-3;   // large enough to matter in the derivative
        Reference.RmsNormGrads g = Reference.rmsnormBackward(dout, x, rows, cols, w, eps);
        check("rmsnorm dx", g.dx(), x, xs -> Reference.rmsnorm(xs, rows, cols, w, eps).out(), dout);
        check("rmsnorm dweight", g.dweight(), w, ws -> Reference.rmsnorm(x, rows, cols, ws, eps).out(), dout);
    }

    @Property(tries = 15)
    void ropeBackwardIsTheInverseRotation(@ForAll @IntRange(min = 1, max = 4) int seq, @ForAll @IntRange(min = 1, max = 2) int heads,
                                          @ForAll @IntRange(min = 1, max = 3) int halfDim, @ForAll long seed) {
        Random rnd = new Random(seed);
        int headDim = 2 * halfDim, rows = 2 * seq;
        double[] x = random(rnd, rows * heads * headDim), dout = random(rnd, x.length);
        double[] dx = Reference.rope(dout, rows, seq, heads, headDim, 10000, 3, true);
        check("rope dx", dx, x, xs -> Reference.rope(xs, rows, seq, heads, headDim, 10000, 3, false), dout);
    }

    @Property(tries = 15)
    void attention(@ForAll @IntRange(min = 1, max = 2) int batch, @ForAll @IntRange(min = 1, max = 4) int qLen,
                   @ForAll @IntRange(min = 0, max = 2) int extra, @ForAll @IntRange(min = 1, max = 2) int heads,
                   @ForAll @IntRange(min = 1, max = 3) int halfDim, @ForAll long seed) {
        Random rnd = new Random(seed);
        int kvLen = qLen + extra, headDim = 2 * halfDim, width = heads * headDim;
        double[] q = random(rnd, batch * qLen * width), k = random(rnd, batch * kvLen * width), v = random(rnd, batch * kvLen * width);
        double[] dout = random(rnd, q.length);
        Reference.AttentionGrads g = Reference.attentionBackward(dout, q, k, v, batch, qLen, kvLen, heads, headDim);
        check("attention dq", g.dq(), q, qs -> Reference.attention(qs, k, v, batch, qLen, kvLen, heads, headDim).out(), dout);
        check("attention dk", g.dk(), k, ks -> Reference.attention(q, ks, v, batch, qLen, kvLen, heads, headDim).out(), dout);
        check("attention dv", g.dv(), v, vs -> Reference.attention(q, k, vs, batch, qLen, kvLen, heads, headDim).out(), dout);
    }

    @Property(tries = 15)
    void swiglu(@ForAll @IntRange(min = 1, max = 20) int n, @ForAll long seed) {
        Random rnd = new Random(seed);
        double[] gate = random(rnd, n), up = random(rnd, n), dout = random(rnd, n);
        for (int i = 0; i < n; i++) gate[i] *= 4;
        Reference.SwiGluGrads g = Reference.swigluBackward(dout, gate, up);
        check("swiglu dgate", g.dgate(), gate, gs -> Reference.swiglu(gs, up), dout);
        check("swiglu dup", g.dup(), up, us -> Reference.swiglu(gate, us), dout);
    }

    @Property(tries = 15)
    void crossEntropy(@ForAll @IntRange(min = 1, max = 5) int rows, @ForAll @IntRange(min = 1, max = 6) int vocab, @ForAll long seed) {
        Random rnd = new Random(seed);
        double[] logits = random(rnd, rows * vocab);
        int[] targets = new int[rows];
        for (int r = 0; r < rows; r++) targets[r] = r % 3 == 2 ? -1 : rnd.nextInt(vocab);
        double lossScale = 3;
        double[] grad = Reference.crossEntropy(logits, rows, vocab, targets, lossScale).dlogits();
        // L = lossScale·mean loss: a scalar, so "dout" is the single weight 1 on it.
        check("crossEntropy dlogits", grad, logits,
                ls -> new double[] {lossScale * Reference.crossEntropy(ls, rows, vocab, targets, 1).loss()}, new double[] {1});
    }

    @Property(tries = 15)
    void embedding(@ForAll @IntRange(min = 1, max = 5) int vocab, @ForAll @IntRange(min = 1, max = 4) int dim,
                   @ForAll @IntRange(min = 1, max = 8) int n, @ForAll long seed) {
        Random rnd = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(vocab);
        double[] table = random(rnd, vocab * dim), dout = random(rnd, n * dim);
        check("embedding dtable", Reference.embeddingBackward(dout, dim, ids, vocab), table,
                ts -> Reference.embedding(ts, dim, ids), dout);
    }

    // ---- machinery ---------------------------------------------------------------------------------------

    private static double[] random(Random rnd, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rnd.nextGaussian();
        return x;
    }

    private static double weighted(double[] dout, double[] y) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += dout[i] * y[i];
        return s;
    }

    /** analytic[i] must equal (L(x + h·e_i) − L(x − h·e_i)) / 2h with L = Σ dout ⊙ forward(x). */
    private static void check(String what, double[] analytic, double[] x, Function<double[], double[]> forward, double[] dout) {
        double scale = 1e-3;
        for (double a : analytic) scale = Math.max(scale, Math.abs(a));
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            double[] plus = x.clone(), minus = x.clone();
            plus[i] = saved + H;
            minus[i] = saved - H;
            double numeric = (weighted(dout, forward.apply(plus)) - weighted(dout, forward.apply(minus))) / (2 * H);
            if (Math.abs(numeric - analytic[i]) > TOLERANCE * scale)
                fail(what + "[" + i + "]: analytic " + analytic[i] + ", finite difference " + numeric);
        }
    }
}
