package tern.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tern.runtime.Granularity;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static tern.model.ModelTestSupport.*;

/** Cached decoding against recomputing the whole sequence, and the sampler's contract. */
class GeneratorTest {

    static List<Precision> precisions() {
        return List.of(Precision.FLOAT,
                Precision.of(new LinearPolicy.Ternary(1)),
                Precision.of(new LinearPolicy.Ternary(2)).withPhaseIn(0.5f),
                Precision.of(new LinearPolicy.Int(8, Granularity.ROW)).withActivationBits(8).withKvBits(4));
    }

    /**
     * Greedy generation with the KV cache gives exactly the tokens of recomputing the full forward each step
     * (argmax of the last row), and its last-row logits agree within 1e-4 of their range.
     */
    @ParameterizedTest
    @MethodSource("precisions")
    void cachedGreedyGenerationEqualsFullRecomputation(Precision precision) {
        LlamaConfig config = LlamaConfig.preset("tiny").withPrecision(precision);
        try (LlamaModel m = model(config, 3, 8f); Generator g = new Generator(m)) {
            int[] prompt = tokens(7, config.vocabSize(), 4);
            List<Integer> streamed = new ArrayList<>();
            int[] cached = g.generate(prompt, 20, SamplingOptions.greedy(), streamed::add);

            int[] seq = Arrays.copyOf(prompt, prompt.length + cached.length);
            for (int step = 0; step < cached.length; step++) {
                int len = prompt.length + step;
                float[] logits = logits(m, Arrays.copyOf(seq, len), 1, len);
                float[] last = Arrays.copyOfRange(logits, (len - 1) * config.vocabSize(), len * config.vocabSize());
                int expected = Sampler.argmax(last);
                assertEquals(expected, cached[step], "token " + step + " under " + precision.weights().label());
                seq[len] = expected;
            }
            assertEquals(Arrays.stream(cached).boxed().toList(), streamed, "the callback streams the same tokens");
        }
    }

    @Test
    void promptLogitsMatchTheFullForwardAtEveryPositionThroughTheCache() {
        // Decode a prompt one token at a time and compare every step's logits with the full forward's rows.
        LlamaConfig config = LlamaConfig.preset("tiny");
        try (LlamaModel m = model(config, 8, 8f); KvCache cache = new KvCache(BACKEND, config, 16);
             PreparedWeights w = PreparedWeights.of(m)) {
            int[] prompt = tokens(12, config.vocabSize(), 9);
            float[] full = logits(m, prompt, 1, prompt.length);
            for (int pos = 0; pos < prompt.length; pos++) {
                float[] step;
                try (var tape = new tern.runtime.Tape(BACKEND, false)) {
                    step = BACKEND.download(m.decode(tape, new int[]{prompt[pos]}, cache, w).value);
                }
                for (int v = 0; v < config.vocabSize(); v++)
                    assertEquals(full[pos * config.vocabSize() + v], step[v], 2e-5, "position " + pos + " token " + v);
            }
            assertEquals(prompt.length, cache.length());
        }
    }

    @Test
    void samplingIsReproducibleForASeedAndTopKOneIsGreedy() {
        LlamaConfig config = LlamaConfig.preset("tiny");
        try (LlamaModel m = model(config, 5, 8f); Generator g = new Generator(m)) {
            int[] prompt = {1, 2, 3};
            SamplingOptions hot = SamplingOptions.sample(1.5f, 50, 0.95f, 77);
            int[] a = g.generate(prompt, 15, hot, null);
            int[] b = g.generate(prompt, 15, hot, null);
            assertArrayEquals(a, b, "same seed, same tokens");
            int[] c = g.generate(prompt, 15, SamplingOptions.sample(1.5f, 50, 0.95f, 78), null);
            assertFalse(Arrays.equals(a, c), "another seed gives other tokens at temperature 1.5");
            assertArrayEquals(g.generate(prompt, 15, SamplingOptions.greedy(), null),
                    g.generate(prompt, 15, SamplingOptions.sample(1f, 1, 1f, 9), null), "top-k 1 is greedy");
        }
    }

    @Test
    void stopTokenEndsGeneration() {
        LlamaConfig config = LlamaConfig.preset("tiny");
        try (LlamaModel m = model(config, 5, 8f); Generator g = new Generator(m)) {
            int[] greedy = g.generate(new int[]{4, 5}, 10, SamplingOptions.greedy(), null);
            int stop = greedy[3];
            int[] stopped = g.generate(new int[]{4, 5}, 10, SamplingOptions.greedy().withStopToken(stop), null);
            int first = 0;
            while (greedy[first] != stop) first++;
            assertArrayEquals(Arrays.copyOf(greedy, first + 1), stopped);
        }
    }

    @Test
    void samplerFollowsTopKAndTopP() {
        float[] logits = {0f, 3f, 1f, 2.9f, -5f};
        // top-k 2 keeps tokens 1 and 3 only.
        Sampler k2 = new Sampler(SamplingOptions.sample(1f, 2, 1f, 1));
        int[] counts = new int[5];
        for (int i = 0; i < 2000; i++) counts[k2.next(logits)]++;
        assertEquals(0, counts[0] + counts[2] + counts[4]);
        assertTrue(counts[1] > 800 && counts[3] > 700, Arrays.toString(counts));
        // Probabilities at T=1: token 1 ≈ 0.475, token 3 ≈ 0.43: top-p 0.4 keeps token 1 alone, 0.8 keeps 1 and 3.
        Sampler p04 = new Sampler(SamplingOptions.sample(1f, 0, 0.4f, 2));
        for (int i = 0; i < 200; i++) assertEquals(1, p04.next(logits));
        Sampler p08 = new Sampler(SamplingOptions.sample(1f, 0, 0.8f, 3));
        counts = new int[5];
        for (int i = 0; i < 2000; i++) counts[p08.next(logits)]++;
        assertEquals(0, counts[0] + counts[2] + counts[4], Arrays.toString(counts));
        assertTrue(counts[3] > 700, Arrays.toString(counts));
    }

    @Test
    void badRequestsAreRejected() {
        LlamaConfig config = LlamaConfig.preset("tiny");
        try (LlamaModel m = model(config, 5, 1f); Generator g = new Generator(m)) {
            assertThrows(IllegalArgumentException.class, () -> g.generate(new int[0], 3, SamplingOptions.greedy(), null));
            var e = assertThrows(IllegalArgumentException.class,
                    () -> g.generate(new int[60], 10, SamplingOptions.greedy(), null));
            assertTrue(e.getMessage().contains("context length 64"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> g.generate(new int[]{1, 512}, 3, SamplingOptions.greedy(), null));
            assertTrue(e.getMessage().contains("token id 512"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> SamplingOptions.sample(-1f, 0, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> SamplingOptions.sample(1f, 0, 0f, 0));
    }
}
