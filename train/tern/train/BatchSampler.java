package tern.train;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * Draws training batches: each row is a window of {@code seqLen + 1} consecutive tokens starting at a
 * uniformly random position among all windows of all shards (a window never crosses a shard's end).
 * Positions come from {@link SplitMix64}, so a seed gives the same batches on any JVM, and the
 * sampler's whole state is the RNG state plus a count: {@link #cursor} saves it as a small JSON-able
 * map and {@link #restore} continues exactly where the saved sampler was.
 */
public final class BatchSampler {
    private final List<TokenShard> shards;
    private final int batchSize;
    private final int seqLen;
    private final long seed;
    private final long[] windowEnds; // windowEnds[i]: windows in shards 0..i
    private final SplitMix64 rng;
    private long batches;

    public BatchSampler(List<TokenShard> shards, int batchSize, int seqLen, long seed) {
        if (batchSize <= 0 || seqLen <= 0)
            throw new IllegalArgumentException("batch size and sequence length must be positive, got " + batchSize + " and " + seqLen);
        this.shards = List.copyOf(shards);
        this.batchSize = batchSize;
        this.seqLen = seqLen;
        this.seed = seed;
        this.windowEnds = new long[shards.size()];
        long total = 0;
        for (int i = 0; i < shards.size(); i++) {
            total += Math.max(0, shards.get(i).tokenCount() - seqLen);
            windowEnds[i] = total;
        }
        if (total == 0)
            throw new DataException("no shard holds the " + (seqLen + 1) + " tokens one sequence needs (shards: " + shards + ")");
        this.rng = new SplitMix64(seed);
    }

    public int batchSize() { return batchSize; }
    public int seqLen() { return seqLen; }
    public long batchesDrawn() { return batches; }

    /** Number of distinct windows the sampler draws from. */
    public long windows() { return windowEnds[windowEnds.length - 1]; }

    public Batch next() {
        int[] tokens = new int[batchSize * (seqLen + 1)];
        for (int r = 0; r < batchSize; r++) {
            long w = rng.nextLong(windows());
            int s = shardOf(w);
            long start = w - (s == 0 ? 0 : windowEnds[s - 1]);
            shards.get(s).copy(start, tokens, r * (seqLen + 1), seqLen + 1);
        }
        batches++;
        return new Batch(batchSize, seqLen, tokens);
    }

    private int shardOf(long window) {
        int lo = 0, hi = windowEnds.length - 1;
        while (lo < hi) { // first shard whose cumulative window count exceeds the window
            int mid = (lo + hi) >>> 1;
            if (windowEnds[mid] > window) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    /**
     * The sampler's position, for a checkpoint. 64-bit values are hex strings because JSON readers
     * (ours included) turn big integers into doubles.
     */
    public Map<String, Object> cursor() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seed", hex(seed));
        m.put("rng_state", hex(rng.state()));
        m.put("batches", batches);
        m.put("batch_size", batchSize);
        m.put("seq_len", seqLen);
        m.put("windows", windows());
        return m;
    }

    /**
     * Continues from a saved {@link #cursor}. The cursor must come from a sampler over the same data
     * with the same seed and shape; anything else would silently change the data order, so it is refused.
     */
    public void restore(Map<String, ?> cursor) {
        check(cursor, "seed", parse(cursor.get("seed"), "seed"), seed);
        check(cursor, "batch_size", parse(cursor.get("batch_size"), "batch_size"), batchSize);
        check(cursor, "seq_len", parse(cursor.get("seq_len"), "seq_len"), seqLen);
        check(cursor, "windows", parse(cursor.get("windows"), "windows"), windows());
        long state = parse(cursor.get("rng_state"), "rng_state");
        long drawn = parse(cursor.get("batches"), "batches");
        rng.setState(state);
        batches = drawn;
    }

    private static void check(Map<String, ?> cursor, String key, long saved, long mine) {
        if (saved != mine)
            throw new DataException("data cursor does not fit this sampler: saved " + key + " is " + saved + ", this sampler's is "
                    + mine + " (cursor " + cursor + ")");
    }

    private static long parse(Object v, String key) {
        try {
            if (v instanceof Number n && !(v instanceof Double || v instanceof Float)) return n.longValue();
            if (v instanceof String s && s.startsWith("0x")) return Long.parseUnsignedLong(s.substring(2), 16);
            if (v instanceof String s) return Long.parseLong(s);
        } catch (NumberFormatException e) {
            // fall through to the message below
        }
        throw new DataException("data cursor field '" + key + "' is " + v + ", expected an integer or a 0x hex string");
    }

    private static String hex(long v) { return "0x" + Long.toHexString(v); }

    /**
     * Batches over the validation shards in a fixed order: consecutive windows of {@code seqLen + 1}
     * tokens starting every {@code seqLen} tokens (so each token after a shard's first is a target
     * exactly once), shard by shard; the last batch may have fewer rows, a shard's ragged tail is skipped.
     */
    public static Iterator<Batch> validation(List<TokenShard> shards, int batchSize, int seqLen) {
        if (batchSize <= 0 || seqLen <= 0)
            throw new IllegalArgumentException("batch size and sequence length must be positive, got " + batchSize + " and " + seqLen);
        List<TokenShard> list = List.copyOf(shards);
        return new Iterator<>() {
            int shard = 0;
            long start = 0;

            private boolean advance() {
                while (shard < list.size() && start + seqLen + 1 > list.get(shard).tokenCount()) { shard++; start = 0; }
                return shard < list.size();
            }

            @Override public boolean hasNext() { return advance(); }

            @Override public Batch next() {
                if (!advance()) throw new NoSuchElementException();
                int[] tokens = new int[batchSize * (seqLen + 1)];
                int rows = 0;
                while (rows < batchSize && advance()) {
                    list.get(shard).copy(start, tokens, rows * (seqLen + 1), seqLen + 1);
                    start += seqLen;
                    rows++;
                }
                return new Batch(rows, seqLen, rows == batchSize ? tokens : java.util.Arrays.copyOf(tokens, rows * (seqLen + 1)));
            }
        };
    }
}
