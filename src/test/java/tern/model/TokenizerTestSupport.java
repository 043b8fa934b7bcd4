package tern.model;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Shared fixtures for the tokenizer tests: a small mixed-script training text and resource paths. */
final class TokenizerTestSupport {
    private static final String[] SYLLABLES = {"ka", "ro", "mi", "ten", "ul", "sha", "po", "lin", "dra", "ve", "qui",
            "zo", "ne", "bar", "ith", "gle", "mo", "ry", "ста", "ви", "の", "ä", "ß", "é"};

    private TokenizerTestSupport() {}

    /** A few hundred KB of generated text: English-like words, numbers, punctuation, some other scripts. */
    static String trainingText(long seed, int words) {
        String[] vocab = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "to", "garden", "where",
                "flowers", "grow", "in", "spring", "don't", "we'll", "it's", "Tokyo", "東京", "カタカナ", "Москва",
                "naïve", "café", "😀", "🚀", "αβγ", "x=1;", "(a+b)", "\"quoted\"", "3.14", "2026", "---", "#tag"};
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            if (i > 0) sb.append(r.nextInt(12) == 0 ? (r.nextBoolean() ? "\n" : "\n\n") : " ");
            if (r.nextInt(3) == 0) { // a made-up word from syllables: many distinct words, so many merges
                for (int k = 1 + r.nextInt(3); k > 0; k--) sb.append(SYLLABLES[r.nextInt(SYLLABLES.length)]);
            } else {
                sb.append(vocab[Math.min(vocab.length - 1, (int) Math.abs(r.nextGaussian() * 9))]);
            }
            if (r.nextInt(10) == 0) sb.append(r.nextBoolean() ? "." : ",");
        }
        return sb.toString();
    }

    static Tokenizer trained(int vocabSize) {
        BpeTrainer t = new BpeTrainer();
        t.addText(trainingText(1, 30_000));
        return t.train(vocabSize, s -> {});
    }

    static Path resource(String name) {
        try {
            return Path.of(TokenizerTestSupport.class.getResource("/tokenizer/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("test resource tokenizer/" + name + " is missing", e);
        }
    }

    /**
     * GPT-2's BPE as its paper-era code states it, used as the reference for the heap-based encoder:
     * repeatedly take the adjacent pair of lowest rank and merge all its occurrences left to right.
     */
    static List<Integer> referenceEncodeWord(Tokenizer t, byte[] bytes) {
        java.util.Map<Long, Integer> ranks = RANKS.computeIfAbsent(t, TokenizerTestSupport::rankTable);
        List<Integer> sym = new ArrayList<>();
        for (byte b : bytes) sym.add(t.id(String.valueOf(ByteLevel.charOf(b & 0xFF))));
        List<int[]> merges = t.merges();
        while (sym.size() > 1) {
            int best = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < sym.size(); i++)
                best = Math.min(best, ranks.getOrDefault(key(sym.get(i), sym.get(i + 1)), Integer.MAX_VALUE));
            if (best == Integer.MAX_VALUE) break;
            int[] m = merges.get(best);
            int merged = t.id(t.token(m[0]) + t.token(m[1]));
            List<Integer> next = new ArrayList<>();
            for (int i = 0; i < sym.size(); i++) {
                if (i + 1 < sym.size() && sym.get(i) == m[0] && sym.get(i + 1) == m[1]) { next.add(merged); i++; }
                else next.add(sym.get(i));
            }
            sym = next;
        }
        return sym;
    }

    private static final java.util.Map<Tokenizer, java.util.Map<Long, Integer>> RANKS =
            java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());

    private static java.util.Map<Long, Integer> rankTable(Tokenizer t) {
        java.util.Map<Long, Integer> ranks = new java.util.HashMap<>();
        List<int[]> merges = t.merges();
        for (int r = merges.size() - 1; r >= 0; r--) ranks.put(key(merges.get(r)[0], merges.get(r)[1]), r);
        return ranks;
    }

    private static long key(int a, int b) { return ((long) a << 32) | b; }
}
