package tern.model;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * A byte-level BPE tokenizer (GPT-2's scheme): text → UTF-8 bytes → one byte-level symbol per byte,
 * split into pre-token words by {@link ByteLevelPreTokenizer}, then inside each word the adjacent pair
 * with the lowest merge rank is merged until no merge applies. Every byte has a token, so
 * {@code decode(encode(s)).equals(s)} for every valid Unicode string.
 *
 * <p>Special tokens ({@code <|endoftext|>}) have ids and decode to their text, but {@link #encode} never
 * produces them from text: a corpus that happens to contain the string "&lt;|endoftext|&gt;" is encoded
 * as ordinary bytes, and callers insert {@link #endOfText()} where a document ends. Load and save with
 * {@link TokenizerFiles}; train with {@link BpeTrainer}. Encoding is thread-safe.
 */
public final class Tokenizer {
    /** GPT-2's document separator; every tokenizer Tern trains has it as its last id. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    private final String[] tokens;
    private final byte[][] tokenBytes;
    private final boolean[] special;
    private final Map<String, Integer> ids;
    private final int[] byteIds = new int[256];
    private final BpeMerges merges;
    private final boolean addPrefixSpace;
    /** Per thread, so that encoding from several threads needs no locks. */
    private final ThreadLocal<TokenizerWordCache> cache = ThreadLocal.withInitial(TokenizerWordCache::new);

    /**
     * @param vocab          token strings by id (byte-level characters; a special token's plain text)
     * @param specialIds     ids of special tokens
     * @param merges         merge pairs of token strings, lowest rank first
     * @param addPrefixSpace prepend a space to text that does not start with one (as some HF files ask)
     * @throws IllegalArgumentException on duplicate tokens, non-byte-level characters or merges whose
     *                                  parts or result are not in the vocabulary
     */
    public Tokenizer(List<String> vocab, java.util.Set<Integer> specialIds, List<String[]> merges, boolean addPrefixSpace) {
        int n = vocab.size();
        this.tokens = vocab.toArray(new String[0]);
        this.tokenBytes = new byte[n][];
        this.special = new boolean[n];
        this.ids = new HashMap<>(n * 2);
        this.addPrefixSpace = addPrefixSpace;
        Arrays.fill(byteIds, -1);
        for (int id = 0; id < n; id++) {
            String t = tokens[id];
            if (t == null) throw new IllegalArgumentException("no token has id " + id + " (ids must be 0.." + (n - 1) + ")");
            if (ids.putIfAbsent(t, id) != null)
                throw new IllegalArgumentException("token '" + t + "' appears twice (ids " + ids.get(t) + " and " + id + ")");
            special[id] = specialIds.contains(id);
            tokenBytes[id] = special[id] ? t.getBytes(StandardCharsets.UTF_8) : ByteLevel.decode(t);
            if (!special[id] && tokenBytes[id].length == 1) byteIds[tokenBytes[id][0] & 0xFF] = id;
        }
        for (int s : specialIds)
            if (s < 0 || s >= n) throw new IllegalArgumentException("special token id " + s + " is outside the vocabulary of " + n);
        this.merges = new BpeMerges(merges.size());
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] m = merges.get(rank);
            int left = idOrThrow(m[0], "merge " + rank), right = idOrThrow(m[1], "merge " + rank);
            int result = idOrThrow(m[0] + m[1], "merge " + rank + " ('" + m[0] + "' + '" + m[1] + "')");
            this.merges.add(left, right, result); // a repeated pair keeps its first (lowest) rank, as in HF
        }
    }

    private int idOrThrow(String token, String where) {
        Integer id = ids.get(token);
        if (id == null) throw new IllegalArgumentException(where + ": token '" + token + "' is not in the vocabulary");
        return id;
    }

    // ---- vocabulary ----------------------------------------------------------------------------------

    /** Number of ids, special tokens included: every id is in [0, vocabSize). */
    public int vocabSize() { return tokens.length; }

    /** The id of {@code <|endoftext|>}, or -1 when this vocabulary has none. */
    public int endOfText() {
        Integer id = ids.get(END_OF_TEXT);
        return id != null && special[id] ? id : -1;
    }

    /** The id of a token given in its vocabulary spelling (byte-level characters), or -1. */
    public int id(String token) { return ids.getOrDefault(token, -1); }

    /** The vocabulary spelling of {@code id}. */
    public String token(int id) { checkId(id); return tokens[id]; }

    public boolean isSpecial(int id) { checkId(id); return special[id]; }

    /** The merges, lowest rank first, as pairs of token ids. */
    public List<int[]> merges() {
        int[][] out = new int[merges.size()][];
        for (int r = 0; r < out.length; r++) out[r] = new int[] {merges.left(r), merges.right(r)};
        return Collections.unmodifiableList(Arrays.asList(out));
    }

    boolean addsPrefixSpace() { return addPrefixSpace; }

    // ---- encoding ------------------------------------------------------------------------------------

    /** The token ids of {@code text} (special-token strings in the text are treated as plain text). */
    public int[] encode(CharSequence text) {
        IntArray out = new IntArray(Math.max(16, text.length() / 3));
        encode(text, out);
        return out.toArray();
    }

    /** Streams the token ids of {@code text} to {@code out}, in order. */
    public void encode(CharSequence text, IntConsumer out) {
        CharSequence t = addPrefixSpace && (text.isEmpty() || text.charAt(0) != ' ') ? " " + text : text;
        TokenizerWordCache cache = this.cache.get();
        ByteLevelPreTokenizer.split(t, (start, end) -> {
            int h = TokenizerWordCache.hash(t, start, end);
            int[] ids = cache.get(t, start, end, h);
            if (ids == null) {
                String word = t.subSequence(start, end).toString();
                ids = mergeWord(word.getBytes(StandardCharsets.UTF_8));
                cache.put(word, h, ids);
            }
            for (int id : ids) out.accept(id);
        });
    }

    /**
     * Applies merges to one word, lowest rank first, leftmost first among equal ranks. A heap of
     * (rank, position) candidates over a linked list of symbols makes this O(n log n) even for the
     * rare very long word (a run of digits or symbols), where rescanning all pairs would be quadratic.
     */
    private int[] mergeWord(byte[] bytes) {
        int n = bytes.length;
        int[] sym = new int[n], next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) {
            sym[i] = byteIds[bytes[i] & 0xFF];
            if (sym[i] < 0)
                throw new IllegalArgumentException(String.format("byte 0x%02X has no token in this vocabulary", bytes[i] & 0xFF));
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) push(heap, sym, i, i + 1);
        int alive = n;
        while (!heap.isEmpty()) {
            long e = heap.pop();
            int rank = (int) (e >>> 32), pos = (int) e;
            int nx = sym[pos] < 0 ? -1 : next[pos];
            if (nx < 0 || merges.rank(sym[pos], sym[nx]) != rank) continue; // stale: the pair has changed
            sym[pos] = merges.result(sym[pos], sym[nx]);
            sym[nx] = -1;
            next[pos] = next[nx];
            if (next[nx] >= 0) prev[next[nx]] = pos;
            alive--;
            if (prev[pos] >= 0) push(heap, sym, prev[pos], pos);
            if (next[pos] >= 0) push(heap, sym, pos, next[pos]);
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0 && k < alive; i = next[i]) out[k++] = sym[i];
        return out;
    }

    private void push(LongHeap heap, int[] sym, int pos, int nextPos) {
        int rank = merges.rank(sym[pos], sym[nextPos]);
        if (rank >= 0) heap.push(((long) rank << 32) | pos);
    }

    // ---- decoding ------------------------------------------------------------------------------------

    /** The text of {@code ids}; byte sequences that are not valid UTF-8 (a cut multi-byte char) become U+FFFD. */
    public String decode(int[] ids) {
        return new String(decodeBytes(ids, 0, ids.length), StandardCharsets.UTF_8);
    }

    /** The raw bytes of {@code ids[from, to)}: what a streaming printer should buffer until UTF-8 is whole. */
    public byte[] decodeBytes(int[] ids, int from, int to) {
        int len = 0;
        for (int i = from; i < to; i++) { checkId(ids[i]); len += tokenBytes[ids[i]].length; }
        byte[] out = new byte[len];
        for (int i = from, p = 0; i < to; i++) {
            byte[] b = tokenBytes[ids[i]];
            System.arraycopy(b, 0, out, p, b.length);
            p += b.length;
        }
        return out;
    }

    private void checkId(int id) {
        if (id < 0 || id >= tokens.length)
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + tokens.length);
    }

    /** A growable int list, so encoding a long text does not box. */
    static final class IntArray implements IntConsumer {
        private int[] a;
        private int size;

        IntArray(int capacity) { a = new int[Math.max(1, capacity)]; }

        @Override public void accept(int v) {
            if (size == a.length) a = Arrays.copyOf(a, a.length * 2);
            a[size++] = v;
        }

        int[] toArray() { return Arrays.copyOf(a, size); }
    }

    /** A binary min-heap of longs (rank in the high half, position in the low half). */
    private static final class LongHeap {
        private long[] h;
        private int size;

        LongHeap(int capacity) { h = new long[Math.max(4, capacity)]; }

        boolean isEmpty() { return size == 0; }

        void push(long v) {
            if (size == h.length) h = Arrays.copyOf(h, size * 2);
            int i = size++;
            while (i > 0 && h[(i - 1) >> 1] > v) { h[i] = h[(i - 1) >> 1]; i = (i - 1) >> 1; }
            h[i] = v;
        }

        long pop() {
            long top = h[0];
            long last = h[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) break;
                if (c + 1 < size && h[c + 1] < h[c]) c++;
                if (h[c] >= last) break;
                h[i] = h[c];
                i = c;
            }
            h[i] = last;
            return top;
        }
    }
}
