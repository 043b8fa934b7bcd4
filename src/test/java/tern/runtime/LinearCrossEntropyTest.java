package tern.runtime;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.simd.CpuBackend;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Tape#linearCrossEntropy} (LM head and loss in chunks of rows) against the whole-matrix form
 * {@code crossEntropy(linear(x, W))} on random shapes, ragged last chunks and ignored targets.
 *
 * <p>Bounds: with one chunk the two are the same operations, so equal bit for bit. With several, each
 * row's gradient scale lossScale·n_c/N then /n_c differs from lossScale/N by at most 2 ulp (2.4e-7
 * relative), and dW is summed per chunk then across chunks instead of in one run of the product, which
 * in f32 moves each element by at most ~rows·2⁻²⁴ of Σ|terms|; both fit in 2e-5 of the tensor's largest
 * magnitude at these sizes (≤ 64 rows). The loss is a double sum of f32 chunk means: 1e-6 relative.
 */
class LinearCrossEntropyTest {
    private static final Backend CPU = CpuBackend.scalar();

    @Property(tries = 40)
    void chunkedEqualsWholeMatrix(@ForAll @IntRange(min = 1, max = 64) int rows,
                                  @ForAll @IntRange(min = 1, max = 9) int hidden,
                                  @ForAll @IntRange(min = 2, max = 40) int vocab,
                                  @ForAll @IntRange(min = 1, max = 70) int chunk,
                                  @ForAll @IntRange(min = 0, max = 10_000) int seed) {
        Random rnd = new Random(seed);
        Tensor x = random(rnd, rows, hidden);
        Parameter w = Parameter.create(CPU, "head", true, vocab, hidden);
        CPU.copy(random(rnd, vocab, hidden), w.value);
        int[] targets = new int[rows];
        for (int i = 0; i < rows; i++) targets[i] = rnd.nextInt(5) == 0 ? -1 : rnd.nextInt(vocab);
        float scale = 0.25f + rnd.nextFloat();

        w.zeroGrad(CPU);
        float whole;
        float[] dxWhole, dwWhole;
        try (Tape tape = new Tape(CPU)) {
            Var in = tape.input(x);
            whole = tape.crossEntropy(tape.linear(in, tape.param(w)), targets, scale);
            tape.backward();
            dxWhole = in.grad() == null ? new float[rows * hidden] : in.grad().toFloatArray();
            dwWhole = w.grad.toFloatArray();
        }
        w.zeroGrad(CPU);
        float chunked;
        float[] dxChunked, dwChunked;
        try (Tape tape = new Tape(CPU)) {
            Var in = tape.input(x);
            chunked = tape.linearCrossEntropy(in, tape.param(w), targets, scale, chunk);
            tape.backward();
            dxChunked = in.grad() == null ? new float[rows * hidden] : in.grad().toFloatArray();
            dwChunked = w.grad.toFloatArray();
        }
        if (chunk >= rows) {
            assertEquals(Float.floatToIntBits(whole), Float.floatToIntBits(chunked), "one chunk: loss " + whole + " vs " + chunked);
            assertTrue(java.util.Arrays.equals(dxWhole, dxChunked), "one chunk: dx bit for bit");
            assertTrue(java.util.Arrays.equals(dwWhole, dwChunked), "one chunk: dW bit for bit");
        } else {
            assertEquals(whole, chunked, 1e-6 * Math.abs(whole) + 1e-7, "loss");
            close("dx", dxWhole, dxChunked);
            close("dW", dwWhole, dwChunked);
        }
        w.close();
        x.close();
    }

    @Property(tries = 5)
    void nonRecordingTapeGivesTheLossAndNoGradient(@ForAll @IntRange(min = 0, max = 100) int seed) {
        Random rnd = new Random(seed);
        Tensor x = random(rnd, 13, 4);
        Parameter w = Parameter.create(CPU, "head", true, 11, 4);
        CPU.copy(random(rnd, 11, 4), w.value);
        w.zeroGrad(CPU);
        int[] targets = new int[13];
        for (int i = 0; i < 13; i++) targets[i] = rnd.nextInt(11);
        float whole, chunked;
        try (Tape tape = new Tape(CPU, false)) {
            whole = tape.crossEntropy(tape.linear(tape.constant(x), tape.param(w)), targets, 1f);
        }
        try (Tape tape = new Tape(CPU, false)) {
            chunked = tape.linearCrossEntropy(tape.constant(x), tape.param(w), targets, 1f, 4);
        }
        assertEquals(whole, chunked, 1e-6 * Math.abs(whole));
        for (float g : w.grad.toFloatArray()) assertEquals(0f, g);
        w.close();
        x.close();
    }

    private static void close(String what, float[] want, float[] got) {
        double max = 0;
        for (float v : want) max = Math.max(max, Math.abs(v));
        boolean any = max > 0;
        for (int i = 0; i < want.length; i++)
            assertEquals(want[i], got[i], 2e-5 * max + Float.MIN_NORMAL, what + "[" + i + "]");
        assertTrue(any || want.length == 0 || allZero(got), what + ": all zero on one side only");
    }

    private static boolean allZero(float[] a) {
        for (float v : a) if (v != 0f) return false;
        return true;
    }

    private static Tensor random(Random rnd, int... shape) {
        Tensor t = Tensor.zeros(DType.F32, shape);
        for (long i = 0; i < t.size(); i++) t.set(i, (float) rnd.nextGaussian());
        return t;
    }
}
