package tern.model;

import java.util.Arrays;

/**
 * One thread's cache of word → token ids. Corpora are Zipfian: a few tens of thousands of words make
 * up almost all of the text, so most words are found here and never reach the merge loop. Lookups hash
 * the word where it lies in the text, so a hit allocates nothing (a {@code HashMap<String, int[]>} would
 * need a substring per word, which cost more than the merges it saved).
 */
final class TokenizerWordCache {
    private static final int CAPACITY = 1 << 16; // words kept before the cache starts over
    private final String[] keys = new String[CAPACITY * 2];
    private final int[] hashes = new int[CAPACITY * 2];
    private final int[][] values = new int[CAPACITY * 2][];
    private final int mask = CAPACITY * 2 - 1;
    private int size;

    /** String's hash of text[start, end), computed in place. */
    static int hash(CharSequence text, int start, int end) {
        int h = 0;
        for (int i = start; i < end; i++) h = 31 * h + text.charAt(i);
        return h;
    }

    /** The ids cached for text[start, end) (whose {@link #hash} is {@code h}), or null. */
    int[] get(CharSequence text, int start, int end, int h) {
        int len = end - start;
        for (int slot = spread(h) & mask; keys[slot] != null; slot = (slot + 1) & mask) {
            if (hashes[slot] == h && keys[slot].length() == len && sameChars(keys[slot], text, start, len)) return values[slot];
        }
        return null;
    }

    void put(String word, int h, int[] ids) {
        if (size >= CAPACITY) { // crude but bounded: a cache full of rare words is rebuilt from the common ones
            Arrays.fill(keys, null);
            Arrays.fill(values, null);
            size = 0;
        }
        int slot = spread(h) & mask;
        while (keys[slot] != null) slot = (slot + 1) & mask;
        keys[slot] = word;
        hashes[slot] = h;
        values[slot] = ids;
        size++;
    }

    private static boolean sameChars(String key, CharSequence text, int start, int len) {
        if (text instanceof String s) return key.regionMatches(0, s, start, len);
        for (int i = 0; i < len; i++) if (key.charAt(i) != text.charAt(start + i)) return false;
        return true;
    }

    private static int spread(int h) { return h ^ (h >>> 16) ^ (h >>> 7); }
}
