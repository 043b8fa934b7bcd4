package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

/**
 * The host-side grouping behind the deterministic embedding backward (no GPU needed): every position appears
 * once, under its id, ids increasing and positions increasing within an id.
 */
class PositionsByIdTest {
    @Test
    void groupsEveryPositionUnderItsIdInOrder() {
        Random rnd = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + rnd.nextInt(300), vocab = 1 + rnd.nextInt(50);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(vocab);
            Map<Integer, List<Integer>> expected = new TreeMap<>();
            for (int i = 0; i < n; i++) expected.computeIfAbsent(ids[i], k -> new ArrayList<>()).add(i);
            int[] csr = Embedding.positionsById(ids);
            assertEquals(3 * n + 2, csr.length, "the layout's offsets depend on n only");
            int u = csr[csr.length - 1];
            assertEquals(expected.size(), u);
            int k = 0;
            for (Map.Entry<Integer, List<Integer>> e : expected.entrySet()) {
                assertEquals(e.getKey(), csr[k]);
                int from = csr[n + k], to = csr[n + k + 1];
                List<Integer> got = new ArrayList<>();
                for (int p = from; p < to; p++) got.add(csr[2 * n + 1 + p]);
                assertEquals(e.getValue(), got, "positions of id " + e.getKey());
                k++;
            }
            assertTrue(csr[n + u] == n);
        }
    }
}
