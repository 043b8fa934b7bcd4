package tern.train;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.io.Writer;

/**
 * Tern's embedded demo corpus: English generated from a small probabilistic grammar of our own, so the
 * project holds no copied text and a tiny model has something it can visibly learn. Paragraphs (one
 * document each, separated by blank lines) mix these sentence kinds:
 * <ul>
 *   <li>clauses with subject-verb agreement in present and past tense, adjectives, a/an, adverbs and
 *       prepositional phrases ("The small foxes watch an old boat near the river.");</li>
 *   <li>fixed facts that stay true across the corpus (colours, legs, animal sounds, homes);</li>
 *   <li>counting ("Count from three to six: three, four, five, six.") and small sums;</li>
 *   <li>questions with answers, about the facts, about sums, and about a short story told in the same
 *       paragraph, so answering needs the context.</li>
 * </ul>
 * The text is a pure function of the seed: the same seed gives the same bytes on every JVM.
 */
public final class GrammarCorpus {
    private static final String[][] NOUNS = { // singular, plural
            {"cat", "cats"}, {"dog", "dogs"}, {"bird", "birds"}, {"child", "children"}, {"teacher", "teachers"},
            {"farmer", "farmers"}, {"fox", "foxes"}, {"horse", "horses"}, {"girl", "girls"}, {"boy", "boys"},
            {"robot", "robots"}, {"baker", "bakers"}, {"mouse", "mice"}, {"owl", "owls"}, {"sailor", "sailors"}};
    private static final String[][] THINGS = {
            {"ball", "balls"}, {"apple", "apples"}, {"book", "books"}, {"box", "boxes"}, {"cup", "cups"},
            {"hat", "hats"}, {"key", "keys"}, {"letter", "letters"}, {"stone", "stones"}, {"cake", "cakes"},
            {"map", "maps"}, {"lamp", "lamps"}, {"bell", "bells"}, {"kite", "kites"}, {"boat", "boats"}, {"egg", "eggs"}};
    private static final String[] ADJECTIVES = {"small", "big", "red", "green", "old", "young", "happy", "quiet",
            "quick", "bright", "tall", "brown", "blue", "soft", "warm", "orange", "empty", "little"};
    private static final String[][] TRANSITIVE = { // base, third person singular, past
            {"see", "sees", "saw"}, {"like", "likes", "liked"}, {"find", "finds", "found"}, {"carry", "carries", "carried"},
            {"watch", "watches", "watched"}, {"want", "wants", "wanted"}, {"hold", "holds", "held"},
            {"paint", "paints", "painted"}, {"follow", "follows", "followed"}, {"bring", "brings", "brought"}};
    private static final String[][] INTRANSITIVE = {
            {"sleep", "sleeps", "slept"}, {"run", "runs", "ran"}, {"sing", "sings", "sang"}, {"play", "plays", "played"},
            {"wait", "waits", "waited"}, {"sit", "sits", "sat"}, {"walk", "walks", "walked"}, {"dance", "dances", "danced"}};
    private static final String[] ADVERBS = {"slowly", "quickly", "quietly", "happily", "often", "today", "again"};
    private static final String[] PREPOSITIONS = {"in", "near", "under", "behind", "beside", "across", "on"};
    private static final String[] PLACES = {"garden", "river", "house", "school", "forest", "market", "hill",
            "kitchen", "bridge", "field", "table", "road"};
    private static final String[][] NAMES = { // name, pronoun
            {"Tom", "he"}, {"Anna", "she"}, {"Sam", "he"}, {"Lily", "she"}, {"Ben", "he"}, {"Mia", "she"},
            {"Leo", "he"}, {"Zoe", "she"}, {"Max", "he"}, {"Ella", "she"}};
    private static final String[] NUMBERS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
            "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
            "nineteen", "twenty"};
    // Facts: each holds the same way in every paragraph, so a model can memorise them.
    private static final String[][] COLOURS = {{"the sky", "blue"}, {"grass", "green"}, {"snow", "white"},
            {"a lemon", "yellow"}, {"a cherry", "red"}, {"coal", "black"}, {"an orange", "orange"}, {"the night", "dark"}};
    private static final String[][] LEGS = {{"cat", "four"}, {"bird", "two"}, {"spider", "eight"}, {"dog", "four"},
            {"ant", "six"}, {"horse", "four"}, {"duck", "two"}, {"fish", "no"}};
    private static final String[][] SOUNDS = {{"cow", "moo"}, {"dog", "woof"}, {"cat", "meow"}, {"duck", "quack"},
            {"sheep", "baa"}, {"owl", "hoot"}, {"frog", "croak"}};
    private static final String[][] HOMES = {{"Fish", "water"}, {"Birds", "trees"}, {"Bees", "hives"},
            {"Bears", "caves"}, {"Rabbits", "burrows"}, {"Frogs", "ponds"}};

    private final SplitMix64 rng;
    private final Writer out;
    private long written;

    private GrammarCorpus(long seed, Writer out) {
        this.rng = new SplitMix64(seed);
        this.out = out;
    }

    /** About {@code approxBytes} of text (whole paragraphs; ASCII, so chars are bytes) for {@code seed}. */
    public static String generate(long seed, long approxBytes) {
        if (approxBytes > Integer.MAX_VALUE - (1 << 16)) throw new IllegalArgumentException("too large for a String: stream it to a Writer");
        StringWriter w = new StringWriter((int) Math.min(approxBytes + 4096, Integer.MAX_VALUE - 8));
        try {
            generate(seed, approxBytes, w);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return w.toString();
    }

    /** Streams about {@code approxBytes} of text for {@code seed} to {@code out}; returns the chars written. */
    public static long generate(long seed, long approxBytes, Writer out) throws IOException {
        GrammarCorpus g = new GrammarCorpus(seed, out);
        while (g.written < approxBytes) {
            if (g.written > 0) g.emit("\n\n");
            g.paragraph();
        }
        out.flush();
        return g.written;
    }

    private void paragraph() throws IOException {
        double kind = rng.nextDouble();
        if (kind < 0.25) story();
        else if (kind < 0.35) counting();
        else {
            int sentences = 3 + rng.nextInt(4);
            for (int i = 0; i < sentences; i++) {
                if (i > 0) emit(" ");
                double r = rng.nextDouble();
                if (r < 0.40) sentence(clause(true));
                else if (r < 0.60) sentence(clause(false));
                else if (r < 0.75) fact(rng.nextDouble() < 0.5);
                else if (r < 0.88) arithmetic(rng.nextDouble() < 0.5);
                else sentence(thereIs());
            }
        }
    }

    // ---- clauses -------------------------------------------------------------------------------------

    private String clause(boolean transitive) {
        boolean plural = rng.nextDouble() < 0.4;
        int tense = rng.nextDouble() < 0.65 ? 0 : 2; // present or past
        StringBuilder sb = new StringBuilder(nounPhrase(pick(NOUNS), plural, true));
        String[] verb = pick(transitive ? TRANSITIVE : INTRANSITIVE);
        sb.append(' ').append(tense == 2 ? verb[2] : plural ? verb[0] : verb[1]);
        if (transitive) sb.append(' ').append(nounPhrase(pick(THINGS), rng.nextDouble() < 0.3, false));
        if (!transitive && rng.nextDouble() < 0.5) sb.append(' ').append(pick(ADVERBS));
        if (rng.nextDouble() < 0.5) sb.append(' ').append(pick(PREPOSITIONS)).append(" the ").append(pick(PLACES));
        return sb.toString();
    }

    private String nounPhrase(String[] noun, boolean plural, boolean subject) {
        String adjective = rng.nextDouble() < 0.5 ? pick(ADJECTIVES) + " " : "";
        String head = adjective + (plural ? noun[1] : noun[0]);
        if (plural) {
            return switch (rng.nextInt(4)) {
                case 0 -> "the " + head;
                case 1 -> "some " + head;
                case 2 -> NUMBERS[2 + rng.nextInt(8)] + " " + head;
                default -> subject ? "these " + head : "many " + head;
            };
        }
        return switch (rng.nextInt(4)) {
            case 0, 1 -> "the " + head;
            case 2 -> article(head) + " " + head;
            default -> "my " + head;
        };
    }

    private String thereIs() {
        int n = 1 + rng.nextInt(9);
        String[] thing = pick(THINGS);
        String where = pick(PREPOSITIONS) + " the " + pick(PLACES);
        return n == 1 ? "there is one " + thing[0] + " " + where : "there are " + NUMBERS[n] + " " + thing[1] + " " + where;
    }

    // ---- facts, counting, sums -----------------------------------------------------------------------

    private void fact(boolean asQuestion) throws IOException {
        switch (rng.nextInt(4)) {
            case 0 -> {
                String[] f = pick(COLOURS);
                String answer = f[0] + " is " + f[1];
                if (asQuestion) qa("what colour is " + f[0], answer);
                else sentence(answer);
            }
            case 1 -> {
                String[] f = pick(LEGS);
                String answer = article(f[0]) + " " + f[0] + " has " + f[1] + " legs";
                if (asQuestion) qa("how many legs does " + article(f[0]) + " " + f[0] + " have", answer);
                else sentence(answer);
            }
            case 2 -> {
                String[] f = pick(SOUNDS);
                String answer = article(f[0]) + " " + f[0] + " says " + f[1];
                if (asQuestion) qa("what does " + article(f[0]) + " " + f[0] + " say", answer);
                else sentence(answer);
            }
            default -> {
                String[] f = pick(HOMES);
                String answer = f[0] + " live in " + f[1];
                if (asQuestion) qa("where do " + f[0].toLowerCase() + " live", answer);
                else sentence(answer);
            }
        }
    }

    private void arithmetic(boolean asQuestion) throws IOException {
        int a = rng.nextInt(11), b = rng.nextInt(11);
        boolean plus = rng.nextDouble() < 0.6 || a < b;
        String sum = NUMBERS[a] + (plus ? " plus " : " minus ") + NUMBERS[b];
        String answer = sum + " is " + NUMBERS[plus ? a + b : a - b];
        if (asQuestion) qa("what is " + sum, answer);
        else sentence(answer);
    }

    private void counting() throws IOException {
        int from = 1 + rng.nextInt(8), to = from + 2 + rng.nextInt(8);
        if (to > 20) to = 20;
        StringBuilder sb = new StringBuilder("Count from " + NUMBERS[from] + " to " + NUMBERS[to] + ": ");
        for (int i = from; i <= to; i++) sb.append(NUMBERS[i]).append(i < to ? ", " : ".");
        emit(sb.toString());
        int n = 1 + rng.nextInt(19);
        emit(" ");
        sentence("after " + NUMBERS[n] + " comes " + NUMBERS[n + 1]);
        emit(" ");
        sentence("before " + NUMBERS[n] + " comes " + NUMBERS[n - 1]);
    }

    // ---- a short story with questions about it -------------------------------------------------------

    private void story() throws IOException {
        String[] person = pick(NAMES);
        String name = person[0], pronoun = person[1];
        String[] thing = pick(THINGS);
        String adjective = pick(ADJECTIVES);
        String owned = article(adjective) + " " + adjective + " " + thing[0];
        String place = pick(PLACES), prep = pick(PREPOSITIONS);
        String[] verb = pick(INTRANSITIVE);
        String[] pet = pick(NOUNS);
        sentence(name + " has " + owned);
        emit(" ");
        sentence(pronoun + " " + verb[2] + " " + prep + " the " + place);
        emit(" ");
        sentence("the " + pet[0] + " followed " + name);
        int questions = 1 + rng.nextInt(3);
        for (int q = 0; q < questions; q++) {
            emit(" ");
            switch (rng.nextInt(3)) {
                case 0 -> qa("what does " + name + " have", name + " has " + owned);
                case 1 -> qa("where did " + name + " " + verb[0], pronoun + " " + verb[2] + " " + prep + " the " + place);
                default -> qa("who followed " + name, "the " + pet[0] + " followed " + name);
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------

    /** "a" or "an" for the word that follows. */
    private static String article(String word) {
        return "aeiou".indexOf(word.charAt(0)) >= 0 ? "an" : "a";
    }

    private void qa(String question, String answer) throws IOException {
        emit("Question: " + capitalise(question) + "? Answer: ");
        sentence(answer);
    }

    private void sentence(String s) throws IOException { emit(capitalise(s) + "."); }

    private static String capitalise(String s) { return Character.toUpperCase(s.charAt(0)) + s.substring(1); }

    private String[] pick(String[][] options) { return options[rng.nextInt(options.length)]; }

    private String pick(String[] options) { return options[rng.nextInt(options.length)]; }

    private void emit(String s) throws IOException {
        out.write(s);
        written += s.length();
    }
}
