package tern.model;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Learns a byte-level BPE vocabulary. First it streams the corpus once, counting pre-token words
 * (a corpus of tens of MB has only some hundred thousand distinct words); then it merges over the
 * word counts: the most frequent adjacent pair becomes a new token, and only the words that contain it
 * are rewritten, with the pair counts updated by the difference. A priority queue with lazy
 * re-checking finds the next most frequent pair without rescanning all pairs.
 *
 * <p>The vocabulary it produces: ids 0..255 are the single bytes (id = byte value), then one id per
 * learned token in the order learned, then {@code <|endoftext|>} as the last id.
 */
public final class BpeTrainer {
    private static final int CHUNK_CHARS = 1 << 20;

    private final Map<String, long[]> wordCounts = new HashMap<>();
    private long charsSeen;

    /** Counts the pre-token words of {@code text}. */
    public void addText(CharSequence text) {
        charsSeen += text.length();
        ByteLevelPreTokenizer.split(text, (start, end) ->
                wordCounts.computeIfAbsent(text.subSequence(start, end).toString(), w -> new long[1])[0]++);
    }

    /** Streams {@code in} in chunks and counts its words. */
    public void addText(Reader in) throws IOException {
        TokenizerTextChunks.read(in, CHUNK_CHARS, (chunk, last) -> addText(chunk));
    }

    /** Streams a UTF-8 file (malformed bytes become U+FFFD) and counts its words. */
    public void addFile(Path file) throws IOException {
        try (Reader r = TokenizerTextChunks.open(file)) {
            addText(r);
        }
    }

    public long charsSeen() { return charsSeen; }

    public int distinctWords() { return wordCounts.size(); }

    /** Trains on one in-memory text (the generated demo corpus, a test string). */
    public static Tokenizer train(CharSequence text, int vocabSize) {
        BpeTrainer t = new BpeTrainer();
        t.addText(text);
        return t.train(vocabSize, s -> {});
    }

    /** Trains on {@code files} (streamed one after another) and returns the tokenizer. */
    public static Tokenizer train(List<Path> files, int vocabSize, Consumer<String> progress) throws IOException {
        BpeTrainer t = new BpeTrainer();
        for (Path f : files) {
            t.addFile(f);
            progress.accept(String.format("counted %s: %,d chars so far, %,d distinct words", f, t.charsSeen, t.distinctWords()));
        }
        return t.train(vocabSize, progress);
    }

    /**
     * Learns merges until the vocabulary holds {@code vocabSize} ids (256 bytes + merges + the
     * end-of-text token), or until no pair occurs any more (then the vocabulary is smaller).
     */
    public Tokenizer train(int vocabSize, Consumer<String> progress) {
        if (vocabSize < 257) throw new IllegalArgumentException("vocabulary size " + vocabSize + " is below 257 (256 bytes + <|endoftext|>)");
        List<String> vocab = new ArrayList<>();
        Map<String, Integer> ids = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            String t = String.valueOf(ByteLevel.charOf(b));
            vocab.add(t);
            ids.put(t, b);
        }
        int nWords = wordCounts.size();
        int[][] words = new int[nWords][];
        long[] counts = new long[nWords];
        BpePairCounts pairs = new BpePairCounts();
        int w = 0;
        for (Map.Entry<String, long[]> e : wordCounts.entrySet()) {
            byte[] bytes = e.getKey().getBytes(StandardCharsets.UTF_8);
            int[] sym = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) sym[i] = bytes[i] & 0xFF;
            words[w] = sym;
            counts[w] = e.getValue()[0];
            for (int i = 0; i + 1 < sym.length; i++) {
                long p = BpeMerges.pair(sym[i], sym[i + 1]);
                pairs.add(p, counts[w]);
                pairs.addWord(p, w);
            }
            w++;
        }
        // Most frequent first; ties go to the smaller pair key so that training is deterministic.
        PriorityQueue<long[]> queue = new PriorityQueue<>((x, y) -> x[0] != y[0] ? Long.compare(y[0], x[0]) : Long.compare(x[1], y[1]));
        for (long p : pairs.pairs()) queue.add(new long[] {pairs.count(p), p});

        List<String[]> merges = new ArrayList<>();
        int[] seen = new int[nWords];
        int target = vocabSize - 1; // the last id is <|endoftext|>
        while (vocab.size() < target && !queue.isEmpty()) {
            long[] top = queue.poll();
            long actual = pairs.count(top[1]);
            if (actual != top[0]) { // stale: the count fell since this entry was queued
                if (actual > 0) queue.add(new long[] {actual, top[1]});
                continue;
            }
            int a = (int) (top[1] >>> 32), b = (int) top[1];
            String merged = vocab.get(a) + vocab.get(b);
            Integer existing = ids.get(merged); // two merge paths can spell the same token: reuse its id
            int c = existing != null ? existing : vocab.size();
            if (existing == null) { vocab.add(merged); ids.put(merged, c); }
            merges.add(new String[] {vocab.get(a), vocab.get(b)});
            Set<Long> touched = mergeEverywhere(a, b, c, words, counts, pairs, seen, merges.size());
            for (long p : touched) {
                long n = pairs.count(p);
                if (n > 0) queue.add(new long[] {n, p});
            }
            if (merges.size() % 1000 == 0)
                progress.accept(String.format("%,d merges, vocabulary %,d of %,d", merges.size(), vocab.size() + 1, vocabSize));
        }
        vocab.add(Tokenizer.END_OF_TEXT);
        return new Tokenizer(vocab, Set.of(vocab.size() - 1), merges, false);
    }

    /** Rewrites every word holding (a, b) with c in its place; returns the pairs that involve c. */
    private static Set<Long> mergeEverywhere(int a, int b, int c, int[][] words, long[] counts,
                                             BpePairCounts pairs, int[] seen, int stamp) {
        long ab = BpeMerges.pair(a, b);
        int[] list = pairs.words(ab);
        int listSize = pairs.wordCount(ab);
        Set<Long> touched = new java.util.HashSet<>();
        for (int k = 0; k < listSize; k++) {
            int w = list[k];
            if (seen[w] == stamp) continue;
            seen[w] = stamp;
            int[] old = words[w];
            int[] next = mergeWord(old, a, b, c);
            if (next == old) continue; // a stale entry: the pair no longer occurs in this word
            long n = counts[w];
            for (int i = 0; i + 1 < old.length; i++) pairs.add(BpeMerges.pair(old[i], old[i + 1]), -n);
            for (int i = 0; i + 1 < next.length; i++) {
                long p = BpeMerges.pair(next[i], next[i + 1]);
                pairs.add(p, n);
                if (next[i] == c || next[i + 1] == c) { pairs.addWord(p, w); touched.add(p); }
            }
            words[w] = next;
        }
        return touched;
    }

    /** {@code word} with every non-overlapping (a, b), left to right, replaced by c; the same array when none. */
    private static int[] mergeWord(int[] word, int a, int b, int c) {
        int[] out = null;
        int k = 0;
        for (int i = 0; i < word.length; i++) {
            if (i + 1 < word.length && word[i] == a && word[i + 1] == b) {
                if (out == null) { out = new int[word.length - 1]; System.arraycopy(word, 0, out, 0, i); k = i; }
                out[k++] = c;
                i++;
            } else if (out != null) {
                out[k++] = word[i];
            }
        }
        return out == null ? word : java.util.Arrays.copyOf(out, k);
    }
}
