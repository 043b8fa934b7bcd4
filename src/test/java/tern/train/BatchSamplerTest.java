package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;

class BatchSamplerTest {
    private static final int VOCAB = 50_000;
    @TempDir Path dir;
    private final List<TokenShard> shards = new ArrayList<>();

    /** Three shards whose tokens count up (mod VOCAB) from a per-shard base, so a window's origin is visible. */
    @BeforeEach
    void writeShards() throws IOException {
        int[] sizes = {5000, 17, 12_000};
        for (int s = 0; s < sizes.length; s++) {
            int[] t = new int[sizes[s]];
            for (int i = 0; i < t.length; i++) t[i] = (s * 20_000 + i) % VOCAB;
            shards.add(TokenShard.open(TokenShardTest.write(dir.resolve("train-" + s + ".tok"), VOCAB, t)));
        }
    }

    @AfterEach
    void close() { shards.forEach(TokenShard::close); }

    private static List<int[]> draw(BatchSampler s, int n) {
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(s.next().tokens());
        return out;
    }

    private static void assertSameBatches(List<int[]> a, List<int[]> b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) assertArrayEquals(a.get(i), b.get(i), "batch " + i);
    }

    @Test
    void rowsAreContiguousWindowsWithTargetsShiftedByOne() {
        BatchSampler s = new BatchSampler(shards, 8, 32, 42);
        for (int k = 0; k < 50; k++) {
            Batch b = s.next();
            assertEquals(8, b.rows());
            for (int r = 0; r < b.rows(); r++) {
                for (int t = 0; t < 32; t++) {
                    assertEquals((b.input(r, t) + 1) % VOCAB, b.target(r, t), "a window never crosses a shard's end");
                    if (t > 0) assertEquals(b.input(r, t), b.target(r, t - 1));
                }
            }
            int[] in = b.inputs(), tg = b.targets();
            assertEquals(8 * 32, in.length);
            assertEquals(b.input(7, 31), in[7 * 32 + 31]);
            assertEquals(b.target(7, 31), tg[7 * 32 + 31]);
        }
    }

    @Test
    void sameSeedSameBatchesOtherSeedOtherBatches() {
        List<int[]> a = draw(new BatchSampler(shards, 4, 16, 7), 20);
        assertSameBatches(a, draw(new BatchSampler(shards, 4, 16, 7), 20));
        List<int[]> c = draw(new BatchSampler(shards, 4, 16, 8), 20);
        int same = 0;
        for (int i = 0; i < 20; i++) if (java.util.Arrays.equals(a.get(i), c.get(i))) same++;
        assertEquals(0, same);
    }

    /** Draw 10, save the cursor (through JSON, as a checkpoint would), draw 5; restore, draw 5: identical. */
    @Test
    void restoredCursorContinuesIdentically() {
        BatchSampler first = new BatchSampler(shards, 4, 16, 1234);
        draw(first, 10);
        String saved = Json.write(first.cursor());
        List<int[]> expected = draw(first, 5);

        BatchSampler resumed = new BatchSampler(shards, 4, 16, 1234);
        resumed.restore(Json.parseObject(saved));
        assertEquals(10, resumed.batchesDrawn());
        assertSameBatches(expected, draw(resumed, 5));
        assertEquals(15, resumed.batchesDrawn());
    }

    @Test
    void cursorFromOtherDataOrShapeIsRefused() {
        Map<String, Object> cursor = new BatchSampler(shards, 4, 16, 5).cursor();
        DataException e = assertThrows(DataException.class, () -> new BatchSampler(shards, 4, 32, 5).restore(cursor));
        assertTrue(e.getMessage().contains("seq_len"), e.getMessage());
        e = assertThrows(DataException.class, () -> new BatchSampler(shards.subList(0, 2), 4, 16, 5).restore(cursor));
        assertTrue(e.getMessage().contains("windows"), e.getMessage());
        e = assertThrows(DataException.class, () -> new BatchSampler(shards, 4, 16, 6).restore(cursor));
        assertTrue(e.getMessage().contains("seed"), e.getMessage());
        Map<String, Object> garbled = new java.util.HashMap<>(cursor);
        garbled.put("rng_state", "0xnot-hex");
        e = assertThrows(DataException.class, () -> new BatchSampler(shards, 4, 16, 5).restore(garbled));
        assertTrue(e.getMessage().contains("rng_state"), e.getMessage());
    }

    @Test
    void everyShardLongEnoughIsSampledAndTooShortOnesAreNot() {
        BatchSampler s = new BatchSampler(shards, 16, 32, 3);
        assertEquals((5000 - 32) + 0 + (12_000 - 32), s.windows());
        boolean[] seen = new boolean[3];
        for (int k = 0; k < 40; k++) {
            Batch b = s.next();
            for (int r = 0; r < b.rows(); r++) seen[b.input(r, 0) / 20_000] = true;
        }
        assertTrue(seen[0] && seen[2], "both long shards appear");
        assertFalse(seen[1], "the 17-token shard cannot hold a 33-token window");
        assertThrows(DataException.class, () -> new BatchSampler(shards.subList(1, 2), 1, 32, 0));
    }

    @Test
    void validationWalksEveryShardInOrderWithoutOverlap() {
        Iterator<Batch> it = BatchSampler.validation(shards, 10, 100);
        List<Integer> starts = new ArrayList<>();
        int batches = 0;
        while (it.hasNext()) {
            Batch b = it.next();
            batches++;
            for (int r = 0; r < b.rows(); r++) starts.add(b.input(r, 0));
        }
        // shard 0: starts 0,100,..,4800 (49 windows, 4899+1 ≤ 5000); shard 1 too short; shard 2: 0..11800 (119)
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i + 101 <= 5000; i += 100) expected.add(i);
        for (int i = 0; i + 101 <= 12_000; i += 100) expected.add((40_000 + i) % VOCAB);
        assertEquals(expected, starts);
        assertEquals((49 + 119 + 9) / 10, batches, "the last batch is partial");
        List<Integer> again = new ArrayList<>();
        BatchSampler.validation(shards, 7, 100).forEachRemaining(b -> { for (int r = 0; r < b.rows(); r++) again.add(b.input(r, 0)); });
        assertEquals(expected, again, "fixed order, whatever the batch size");
    }
}
