package tern.model;

import java.util.Arrays;

/**
 * Training's table of adjacent symbol pairs: for each pair (packed in a long) its weighted count and
 * the list of words it was seen in. Lists may hold stale or repeated word indices; the trainer checks
 * each word when it merges. Open addressing keeps a corpus' million pairs free of boxed keys.
 */
final class BpePairCounts {
    private long[] keys;
    private long[] counts;
    private int[][] words;
    private int[] wordCounts;
    private int size;

    BpePairCounts() { allocate(1 << 10); } // small, so that every training run, tests included, grows it

    private void allocate(int slots) {
        keys = new long[slots];
        Arrays.fill(keys, -1L);
        counts = new long[slots];
        words = new int[slots][];
        wordCounts = new int[slots];
    }

    long count(long pair) {
        int s = find(pair);
        return keys[s] == pair ? counts[s] : 0;
    }

    void add(long pair, long delta) {
        int s = slotFor(pair); // first: it may grow (replace) the arrays
        counts[s] += delta;
    }

    /** Notes that {@code word} contains {@code pair}. */
    void addWord(long pair, int word) {
        int s = slotFor(pair);
        int[] list = words[s];
        if (list == null) words[s] = list = new int[4];
        else if (wordCounts[s] == list.length) words[s] = list = Arrays.copyOf(list, list.length * 2);
        list[wordCounts[s]++] = word;
    }

    /** The words noted for {@code pair} (may repeat or be stale); length via {@link #wordCount}. */
    int[] words(long pair) {
        int s = find(pair);
        return keys[s] == pair && words[s] != null ? words[s] : new int[0];
    }

    int wordCount(long pair) {
        int s = find(pair);
        return keys[s] == pair ? wordCounts[s] : 0;
    }

    /** Every pair's key with a positive count, for seeding the priority queue. */
    long[] pairs() {
        long[] out = new long[size];
        int k = 0;
        for (int s = 0; s < keys.length; s++) if (keys[s] != -1L && counts[s] > 0) out[k++] = keys[s];
        return Arrays.copyOf(out, k);
    }

    private int slotFor(long pair) {
        int s = find(pair);
        if (keys[s] == pair) return s;
        if ((size + 1) * 2 > keys.length) { grow(); s = find(pair); }
        keys[s] = pair;
        size++;
        return s;
    }

    private int find(long pair) {
        int mask = keys.length - 1;
        int s = (int) (mix(pair) & mask);
        while (keys[s] != -1L && keys[s] != pair) s = (s + 1) & mask;
        return s;
    }

    private void grow() {
        long[] oldKeys = keys, oldCounts = counts;
        int[][] oldWords = words;
        int[] oldWordCounts = wordCounts;
        allocate(oldKeys.length * 2);
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] == -1L) continue;
            int s = find(oldKeys[i]);
            keys[s] = oldKeys[i];
            counts[s] = oldCounts[i];
            words[s] = oldWords[i];
            wordCounts[s] = oldWordCounts[i];
        }
    }

    private static long mix(long x) {
        x = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
        x = (x ^ (x >>> 27)) * 0x94D049BB133111EBL;
        return x ^ (x >>> 31);
    }
}
