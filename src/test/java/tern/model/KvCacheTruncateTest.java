package tern.model;

import org.junit.jupiter.api.Test;
import tern.runtime.Tape;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static tern.model.ModelTestSupport.logits;
import static tern.model.ModelTestSupport.tokens;
import static tern.model.ModelTestSupport.BACKEND;
import static tern.model.ModelTestSupport.model;

/**
 * {@link KvCache#truncate} and {@link LlamaModel#decodeAll}: after decoding one sequence, truncating the cache
 * to a prefix and decoding other tokens gives the full forward's logits of (prefix + other tokens) at every new
 * position, under float, ternary and int8-with-quantized-KV precision. Tolerance 2e-5 as in GeneratorTest: the same f32 math, only the
 * attention's split into cached and new positions changes the summation order.
 */
class KvCacheTruncateTest {
    @Test
    void decodingAfterTruncationMatchesTheFullForwardOfPrefixPlusNewTokens() {
        for (Precision precision : new Precision[]{Precision.FLOAT, Precision.of(new LinearPolicy.Ternary(1)),
                Precision.of(new LinearPolicy.Int(8, tern.runtime.Granularity.ROW)).withActivationBits(8).withKvBits(4)}) {
            LlamaConfig config = LlamaConfig.preset("tiny").withPrecision(precision);
            int vocab = config.vocabSize();
            try (LlamaModel m = model(config, 11, 8f); KvCache cache = new KvCache(BACKEND, config, 16);
                 PreparedWeights w = PreparedWeights.of(m)) {
                int[] first = tokens(10, vocab, 3), other = tokens(5, vocab, 4);
                float[] all;
                try (Tape tape = new Tape(BACKEND, false)) {
                    all = BACKEND.download(m.decodeAll(tape, first, cache, w).value);
                }
                float[] full = logits(m, first, 1, first.length);
                for (int i = 0; i < full.length; i++)
                    assertEquals(full[i], all[i], 2e-5, precision.weights().label() + ": decodeAll row " + i / vocab);

                cache.truncate(6);
                assertEquals(6, cache.length());
                float[] resumed;
                try (Tape tape = new Tape(BACKEND, false)) {
                    resumed = BACKEND.download(m.decodeAll(tape, other, cache, w).value);
                }
                assertEquals(11, cache.length());
                int[] joined = Arrays.copyOf(first, 11);
                System.arraycopy(other, 0, joined, 6, other.length);
                float[] expected = logits(m, joined, 1, joined.length);
                for (int j = 0; j < other.length; j++)
                    for (int v = 0; v < vocab; v++)
                        assertEquals(expected[(6 + j) * vocab + v], resumed[j * vocab + v], 2e-5,
                                precision.weights().label() + ": position " + (6 + j) + " token " + v);
            }
        }
    }

    @Test
    void truncationOutsideTheFilledPositionsIsRefused() {
        LlamaConfig config = LlamaConfig.preset("tiny");
        try (LlamaModel m = model(config, 2, 1f); KvCache cache = new KvCache(BACKEND, config, 8);
             PreparedWeights w = PreparedWeights.of(m)) {
            try (Tape tape = new Tape(BACKEND, false)) {
                m.decode(tape, new int[]{1, 2, 3}, cache, w);
            }
            assertThrows(IllegalArgumentException.class, () -> cache.truncate(4));
            assertThrows(IllegalArgumentException.class, () -> cache.truncate(-1));
            cache.truncate(3);
            cache.truncate(0);
            assertEquals(0, cache.length());
        }
    }
}
