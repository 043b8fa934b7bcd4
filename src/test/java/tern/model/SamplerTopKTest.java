package tern.model;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Top-k sampling keeps the k best ids by one selection pass ({@link Sampler#best}); it must give exactly
 * the first k of the full order the sampler used before (logit descending, ties by ascending id), or a
 * seeded sample would change. Logits are drawn from few distinct values (many ties, ±0 among them).
 */
class SamplerTopKTest {
    @Property(tries = 300)
    void theKBestAreThePrefixOfTheFullOrder(@ForAll @IntRange(min = 1, max = 300) int n, @ForAll @IntRange(min = 1, max = 64) int k,
                                            @ForAll @IntRange(min = 1, max = 12) int distinct, @ForAll long seed) {
        Random r = new Random(seed);
        float[] values = new float[distinct];
        for (int i = 0; i < distinct; i++) values[i] = i == 0 ? -0f : i == 1 ? 0f : (float) r.nextGaussian() * 4;
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) logits[i] = values[r.nextInt(distinct)];
        // The order as the sampler defined it before: a boxed sort with its original comparator.
        Integer[] ids = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(ids, (Comparator<Integer>) (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int[] full = Arrays.stream(ids).mapToInt(Integer::intValue).toArray();
        assertArrayEquals(full, Sampler.sorted(logits));
        int keep = Math.min(k, n);
        assertArrayEquals(Arrays.copyOf(full, keep), Sampler.best(logits, keep));
    }

    @Test
    void aNanLogitIsRefusedWithItsIndex() {
        float[] logits = {1f, 2f, Float.NaN, 0f};
        assertEquals("NaN logit at token 2", assertThrows(IllegalStateException.class, () -> Sampler.best(logits, 2)).getMessage());
        assertEquals("NaN logit at token 2", assertThrows(IllegalStateException.class, () -> Sampler.sorted(logits)).getMessage());
    }
}
