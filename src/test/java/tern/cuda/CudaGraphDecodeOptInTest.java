package tern.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import tern.model.LlamaModel;
import tern.model.PreparedWeights;
import tern.model.RandomServedWeights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decode step's two settings that were opt-in until an H200 run checked them (now the defaults; a class
 * of its own, so tools/gpu/graph-decode.sh runs it in a JVM of its own): programmatic dependent launch must
 * not change a bit against -Dtern.cuda.pdl=false, and the attention split along the keys must match the
 * unsplit one (-Dtern.cuda.attentionSplit=false) to f32 summation order. Runs with TERN_CUDA_OPT_IN=1 in the
 * environment (graph-decode.sh sets it).
 */
class CudaGraphDecodeOptInTest {
    @BeforeEach
    void onlyWhenAskedFor() {
        Assumptions.assumeTrue("1".equals(System.getenv("TERN_CUDA_OPT_IN")), "opt-in decode settings: set TERN_CUDA_OPT_IN=1 to test them");
    }

    @Test
    void programmaticDependentLaunchChangesNoBit() {
        String before = System.getProperty("tern.cuda.pdl");
        try {
            System.setProperty("tern.cuda.pdl", "false");
            float[][] plain = CudaGraphDecodeTest.graphEqualsEager(CudaGraphDecodeTest.SHAPE, 5);
            System.setProperty("tern.cuda.pdl", "true");
            float[][] pdl = CudaGraphDecodeTest.graphEqualsEager(CudaGraphDecodeTest.SHAPE, 5);
            for (int step = 0; step < plain.length; step++) assertArrayEquals(plain[step], pdl[step], "with vs without PDL, step " + step);
        } finally {
            CudaGraphDecodeTest.restore("tern.cuda.pdl", before);
        }
    }

    @Test
    void splitAttentionMatchesTheUnsplitOne() {
        CudaBackend c = CudaGraphDecodeTest.cuda();
        String before = System.getProperty("tern.cuda.attentionSplit");
        try (LlamaModel m = RandomServedWeights.model(c, CudaGraphDecodeTest.SHAPE, 8, false); PreparedWeights w = PreparedWeights.of(m);
             CudaGraphDecodeTest.Caches a = new CudaGraphDecodeTest.Caches(c, 1, 90); CudaGraphDecodeTest.Caches b = new CudaGraphDecodeTest.Caches(c, 1, 90)) {
            System.setProperty("tern.cuda.attentionSplit", "true");
            CudaGraphDecodeStep split = new CudaGraphDecodeStep(m, w.packed(), 1, true);
            System.setProperty("tern.cuda.attentionSplit", "false");
            CudaGraphDecodeStep whole = new CudaGraphDecodeStep(m, w.packed(), 1, true);
            try (split; whole) {
                assertTrue(split.describe().contains("split along the keys"), split.describe());
                int token = 9;
                for (int step = 0; step < 90; step++) {             // up to 90 keys: three splits of 32
                    float[] s = split.step(new int[] {token}, new int[] {step}, a.keys, a.values);
                    float[] u = whole.step(new int[] {token}, new int[] {step}, b.keys, b.values);
                    Gpu.assertClose(s, Gpu.toDouble(u), 1e-5, "step " + step);
                    token = CudaGraphDecodeTest.argmax(s, 0);
                }
            }
        } finally {
            CudaGraphDecodeTest.restore("tern.cuda.attentionSplit", before);
        }
    }
}
