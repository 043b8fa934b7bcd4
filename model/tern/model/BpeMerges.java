package tern.model;

/**
 * The merge table: (left id, right id) → (rank, merged id), an open-addressing hash over the pair
 * packed into one long. Encoding looks a pair up for every adjacent pair of every new word, so this
 * avoids boxing a Long per lookup as a {@code HashMap<Long, ...>} would.
 */
final class BpeMerges {
    private final long[] keys;
    private final int[] ranks;
    private final int[] results;
    private final int mask;
    private final int[] lefts, rights;
    private int size;

    BpeMerges(int capacity) {
        int slots = Integer.highestOneBit(Math.max(4, capacity * 2 + 1)) << 1;
        keys = new long[slots];
        java.util.Arrays.fill(keys, -1L);
        ranks = new int[slots];
        results = new int[slots];
        mask = slots - 1;
        lefts = new int[capacity];
        rights = new int[capacity];
    }

    static long pair(int left, int right) { return ((long) left << 32) | (right & 0xFFFFFFFFL); }

    /** Adds the next merge (its rank is its position); returns false when the pair is already there. */
    boolean add(int left, int right, int result) {
        long key = pair(left, right);
        int slot = slotOf(key);
        if (keys[slot] == key) return false;
        keys[slot] = key;
        ranks[slot] = size;
        results[slot] = result;
        lefts[size] = left;
        rights[size] = right;
        size++;
        return true;
    }

    /** The rank of merging {@code left, right}, or -1 when no merge joins them. */
    int rank(int left, int right) {
        long key = pair(left, right);
        int slot = slotOf(key);
        return keys[slot] == key ? ranks[slot] : -1;
    }

    /** The id that merging {@code left, right} produces; only meaningful when {@link #rank} ≥ 0. */
    int result(int left, int right) {
        return results[slotOf(pair(left, right))];
    }

    int size() { return size; }
    int left(int rank) { return lefts[rank]; }
    int right(int rank) { return rights[rank]; }

    private int slotOf(long key) {
        int slot = (int) (mix(key) & mask);
        while (keys[slot] != -1L && keys[slot] != key) slot = (slot + 1) & mask;
        return slot;
    }

    private static long mix(long x) { // splitmix64's finalizer: spreads nearby ids over the table
        x = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
        x = (x ^ (x >>> 27)) * 0x94D049BB133111EBL;
        return x ^ (x >>> 31);
    }
}
