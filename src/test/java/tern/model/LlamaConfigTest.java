package tern.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import tern.runtime.Granularity;
import tern.runtime.Parameter;

import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/** Presets against SPEC.md's table, validation messages, model size in bits, config.json both ways. */
class LlamaConfigTest {

    /** SPEC.md's table (SpectraSuite): name, parameters, hidden, GLU, heads, layers, MP. */
    @ParameterizedTest
    @CsvSource({
            "99M, 99.74e6, 512, 1280, 8, 16, 1",
            "190M, 190.0e6, 768, 2048, 12, 16, 1",
            "390M, 392.4e6, 1024, 2560, 16, 24, 1",
            "560M, 569.2e6, 1280, 3072, 20, 24, 1",
            "830M, 834.0e6, 1536, 4096, 24, 24, 1",
            "1.1B, 1.149e9, 1792, 5120, 28, 24, 2",
            "1.5B, 1.515e9, 2048, 6144, 32, 24, 2",
            "2.4B, 2.461e9, 2304, 7680, 36, 30, 3",
            "3.9B, 3.989e9, 3072, 9216, 24, 30, 6"})
    void spectraPresetsMatchTheTable(String name, double params, int hidden, int glu, int heads, int layers, int mp) {
        LlamaConfig c = LlamaConfig.preset(name);
        assertEquals(hidden, c.hidden());
        assertEquals(glu, c.intermediate());
        assertEquals(heads, c.heads());
        assertEquals(layers, c.layers());
        assertEquals(mp, c.modelParallel());
        assertEquals(50304, c.vocabSize());
        assertEquals(2048, c.contextLength());
        assertEquals(params, c.parameterCount(), 0.005 * params, name + " parameter count");
        assertEquals(new LinearPolicy.Ternary(mp), c.ternary().precision().weights(), "TriLM scales per matrix = MP");
    }

    @Test
    void smallPresetsHaveTheirAdvertisedSizes() {
        LlamaConfig tiny = LlamaConfig.preset("tiny"), ten = LlamaConfig.preset("10M"), golden = LlamaConfig.preset("golden");
        assertTrue(tiny.parameterCount() > 200_000 && tiny.parameterCount() < 500_000, tiny.describe());
        assertTrue(ten.parameterCount() > 9_000_000 && ten.parameterCount() < 11_000_000, ten.describe());
        assertEquals(List.of(96, 64, 128, 2, 4, 64), List.of(golden.vocabSize(), golden.hidden(), golden.intermediate(),
                golden.layers(), golden.heads(), golden.contextLength()));
        assertEquals(1e-5f, golden.rmsEps());
        LlamaConfig resized = ten.withVocabSize(1000).withContextLength(128);
        assertEquals(List.of(1000, 128, 256, 9), List.of(resized.vocabSize(), resized.contextLength(), resized.hidden(), resized.layers()));
        assertThrows(IllegalArgumentException.class, () -> ten.withVocabSize(0));
        assertEquals(10000f, golden.ropeTheta());
    }

    @Test
    void parameterCountIsWhatTheModelAllocates() {
        for (String name : List.of("tiny", "golden")) {
            LlamaConfig c = LlamaConfig.preset(name);
            try (LlamaModel m = new LlamaModel(ModelTestSupport.BACKEND, c)) {
                long sum = 0;
                for (Parameter p : m.parameters()) sum += p.size();
                assertEquals(c.parameterCount(), sum, name);
                assertEquals(9L * c.layers() + 3, m.parameters().size());
            }
        }
    }

    @Test
    void unknownPresetListsTheKnownOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.preset("7B"));
        assertTrue(e.getMessage().contains("'7B'") && e.getMessage().contains("99M") && e.getMessage().contains("3.9B")
                && e.getMessage().contains("tiny"), e.getMessage());
    }

    static List<Object[]> invalidConfigs() {
        Precision f = Precision.FLOAT;
        return List.of(
                new Object[]{"vocabSize", (Supplier<?>) () -> new LlamaConfig(0, 64, 128, 2, 4, 64, 1e-5f, 1e4f, 1, f)},
                new Object[]{"hidden", (Supplier<?>) () -> new LlamaConfig(96, -64, 128, 2, 4, 64, 1e-5f, 1e4f, 1, f)},
                new Object[]{"intermediate", (Supplier<?>) () -> new LlamaConfig(96, 64, 0, 2, 4, 64, 1e-5f, 1e4f, 1, f)},
                new Object[]{"layers", (Supplier<?>) () -> new LlamaConfig(96, 64, 128, 0, 4, 64, 1e-5f, 1e4f, 1, f)},
                new Object[]{"contextLength", (Supplier<?>) () -> new LlamaConfig(96, 64, 128, 2, 4, 0, 1e-5f, 1e4f, 1, f)},
                new Object[]{"heads (5) must divide hidden (64)", (Supplier<?>) () -> new LlamaConfig(96, 64, 128, 2, 5, 64, 1e-5f, 1e4f, 1, f)},
                new Object[]{"must be even", (Supplier<?>) () -> new LlamaConfig(96, 60, 128, 2, 4, 64, 1e-5f, 1e4f, 1, f)},
                new Object[]{"rmsEps", (Supplier<?>) () -> new LlamaConfig(96, 64, 128, 2, 4, 64, 0f, 1e4f, 1, f)},
                new Object[]{"ropeTheta", (Supplier<?>) () -> new LlamaConfig(96, 64, 128, 2, 4, 64, 1e-5f, Float.NaN, 1, f)},
                new Object[]{"modelParallel", (Supplier<?>) () -> new LlamaConfig(96, 64, 128, 2, 4, 64, 1e-5f, 1e4f, 0, f)},
                new Object[]{"ternary shards (3)", (Supplier<?>) () -> LlamaConfig.preset("golden").withPolicy(new LinearPolicy.Ternary(3))},
                new Object[]{"precision.phaseIn", (Supplier<?>) () -> Precision.FLOAT.withPhaseIn(1.5f)},
                new Object[]{"precision.kvBits", (Supplier<?>) () -> Precision.FLOAT.withKvBits(1)},
                new Object[]{"precision.activationBits", (Supplier<?>) () -> Precision.FLOAT.withActivationBits(17)},
                new Object[]{"int bits", (Supplier<?>) () -> new LinearPolicy.Int(1, Granularity.ROW)},
                new Object[]{"ternary shards must be", (Supplier<?>) () -> new LinearPolicy.Ternary(0)});
    }

    @ParameterizedTest
    @MethodSource("invalidConfigs")
    void invalidConfigsNameTheField(String expected, Supplier<?> make) {
        var e = assertThrows(IllegalArgumentException.class, make::get);
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' should name " + expected);
    }

    @Test
    void modelBitsCountAsSpectraDoes() {
        LlamaConfig c = LlamaConfig.preset("99M");
        double floatBits = c.modelBits(LinearPolicy.FLOAT, false);
        assertEquals(16.0 * c.parameterCount(), floatBits, 1e-6 * floatBits);
        double emb = 16.0 * (c.embeddingParameters() + c.normParameters());
        double tern = c.modelBits(new LinearPolicy.Ternary(1), false);
        assertEquals(emb + c.linearParameters() * Math.log(3) / Math.log(2) + 16.0 * 7 * c.layers(), tern, 1);
        assertEquals(emb + 2.0 * c.linearParameters() + 16.0 * 7 * c.layers(), c.modelBits(new LinearPolicy.Ternary(1), true), 1);
        double int4row = c.modelBits(new LinearPolicy.Int(4, Granularity.ROW), false);
        assertEquals(emb + 4.0 * c.linearParameters() + 16.0 * c.layers() * (5 * 512 + 2 * 1280), int4row, 1);
        // Spectra's headline: TriLM 3.9B has fewer bits than FloatLM 830M.
        assertTrue(LlamaConfig.preset("3.9B").modelBits(new LinearPolicy.Ternary(6), false)
                < LlamaConfig.preset("830M").modelBits(LinearPolicy.FLOAT, false));
    }

    @Test
    void policiesRoundTripThroughTheirLabels() {
        for (LinearPolicy p : List.of(LinearPolicy.FLOAT, new LinearPolicy.Ternary(3), new LinearPolicy.Binary(Granularity.TENSOR),
                new LinearPolicy.Binary(Granularity.ROW), new LinearPolicy.Int(4, Granularity.TENSOR), new LinearPolicy.Int(8, Granularity.ROW)))
            assertEquals(p, LinearPolicy.parse(p.label(), p instanceof LinearPolicy.Ternary(int s) ? s : 1), p.label());
        var e = assertThrows(IllegalArgumentException.class, () -> LinearPolicy.parse("int99x", 1));
        assertTrue(e.getMessage().contains("int99x"));
    }
}
