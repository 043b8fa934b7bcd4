package tern.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.simd.CpuBackend;

/**
 * GPTQ with the lazy column updates as backend products (W kept transposed, f32) against the host
 * reference (double throughout), on random shapes: ragged blocks past column 128, groups smaller than,
 * equal to, not dividing and larger than a block, dead input columns. They differ only by f32 rounding
 * in the later columns, which can move a weight across a rounding boundary now and then, so: at least
 * 99% of the codes agree, and the two layers' output errors tr(ΔW H ΔWᵀ) agree within 2%. The traces
 * by backend products agree with the host's within 1e-4 relative.
 */
class GptqBackendTest {
    @Property(tries = 12)
    void backendLazyUpdatesMatchTheHostReference(@ForAll @IntRange(min = 2, max = 24) int rows, @ForAll @IntRange(min = 20, max = 300) int cols,
                                                 @ForAll @IntRange(min = 0, max = 4) int groupChoice, @ForAll @IntRange(min = 3, max = 4) int bits,
                                                 @ForAll @IntRange(min = 0, max = 1000) int seed) {
        int group = new int[]{0, 32, 100, 128, 200}[groupChoice];
        Random rnd = new Random(seed);
        double[][] x = GptqTest.correlatedInputs(rnd, 3 * cols, cols);
        int dead = rnd.nextInt(cols);
        for (double[] row : x) row[dead] = 0;                  // an input that never fires
        double[] h = GptqTest.hessian(x);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();

        QuantizeResult host = Gptq.quantize(w, rows, cols, h, bits, group, false);
        QuantizeResult onBackend;
        try (CpuBackend backend = new CpuBackend()) {
            onBackend = Gptq.quantize(backend, w, rows, cols, Gptq.prepare(h, cols), bits, group, false);
            double hostTrace = Quantize.relativeError(w, host.dequantized(), rows, cols, h);
            double backendTrace = Quantize.relativeError(backend, w, host.dequantized(), rows, cols, h);
            assertEquals(hostTrace, backendTrace, 1e-4 * hostTrace, "relative output error by backend products");
        }
        int agree = 0;
        for (int i = 0; i < w.length; i++) if (host.codes()[i] == onBackend.codes()[i]) agree++;
        assertTrue(agree >= 0.99 * w.length, agree + " of " + w.length + " codes agree");
        assertEquals(0f, onBackend.dequantized()[dead], "a dead column's weight is 0");
        double eh = GptqTest.outputError(x, w, host.dequantized(), rows, cols), eb = GptqTest.outputError(x, w, onBackend.dequantized(), rows, cols);
        assertEquals(eh, eb, 0.02 * eh, "output error, host " + eh + " vs backend " + eb);
    }
}
