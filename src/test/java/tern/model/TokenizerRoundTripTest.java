package tern.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** decode(encode(s)) == s for any valid Unicode text, and the pieces behind it checked against references. */
class TokenizerRoundTripTest {
    private static final Tokenizer TOKENIZER = TokenizerTestSupport.trained(600);

    /** Code points from every range that has tripped byte-level tokenizers: controls, emoji, CJK, odd spaces. */
    @Provide
    Arbitrary<String> text() {
        Arbitrary<Integer> cp = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(30, Arbitraries.integers().between(0x20, 0x7E)),          // ASCII printable
                net.jqwik.api.Tuple.of(8, Arbitraries.of(0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x27)), // whitespace, '
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x00, 0x1F)),           // C0 controls
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x80, 0x2FF)),          // C1, Latin-1, Latin ext.
                net.jqwik.api.Tuple.of(3, Arbitraries.of(0x85, 0xA0, 0x1680, 0x2000, 0x2009, 0x2028, 0x202F, 0x3000)),
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x0300, 0x036F)),       // combining marks
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x0400, 0x04FF)),       // Cyrillic
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x0600, 0x06FF)),       // Arabic
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x4E00, 0x4FFF)),       // CJK
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0x1F300, 0x1FAFF)),     // emoji (surrogate pairs)
                net.jqwik.api.Tuple.of(2, Arbitraries.of(0x200D, 0xFE0F, 0xFEFF, 0xFFFD)),      // ZWJ, selectors, BOM
                net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(0x10000, 0x10FFFF)));   // any astral code point
        return cp.list().ofMaxSize(80).map(list -> {
            StringBuilder sb = new StringBuilder();
            for (int c : list) sb.appendCodePoint(c);
            return sb.toString();
        });
    }

    @Property(tries = 1000)
    void decodeInvertsEncodeForAnyText(@ForAll("text") String s) {
        assertEquals(s, TOKENIZER.decode(TOKENIZER.encode(s)));
    }

    @Property(tries = 1000)
    void tokenBytesConcatenateToTheUtf8Bytes(@ForAll("text") String s) {
        int[] ids = TOKENIZER.encode(s);
        assertTrue(Arrays.equals(s.getBytes(StandardCharsets.UTF_8), TOKENIZER.decodeBytes(ids, 0, ids.length)));
        for (int id : ids) assertTrue(id >= 0 && id < TOKENIZER.vocabSize() && !TOKENIZER.isSpecial(id));
    }

    /** The hand scanner splits exactly where GPT-2's regex does (\s as Unicode White_Space, as in HF). */
    @Property(tries = 1000)
    void preTokenizerMatchesGpt2Regex(@ForAll("text") String s) {
        Pattern p = Pattern.compile(ByteLevelPreTokenizer.GPT2_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);
        List<String> expected = new ArrayList<>();
        Matcher m = p.matcher(s);
        while (m.find()) expected.add(m.group());
        List<String> actual = new ArrayList<>();
        ByteLevelPreTokenizer.split(s, (a, b) -> actual.add(s.substring(a, b)));
        assertEquals(expected, actual);
    }

    /** The heap-based merge loop gives what GPT-2's rescan-and-merge-all loop gives. */
    @Property(tries = 300)
    void encodingMatchesReferenceBpe(@ForAll("text") String s) {
        List<Integer> expected = new ArrayList<>();
        ByteLevelPreTokenizer.split(s, (a, b) -> expected.addAll(
                TokenizerTestSupport.referenceEncodeWord(TOKENIZER, s.substring(a, b).getBytes(StandardCharsets.UTF_8))));
        assertEquals(expected, Arrays.stream(TOKENIZER.encode(s)).boxed().toList());
    }

    /** More distinct words than the per-thread cache holds: it starts over and encodings stay right. */
    @net.jqwik.api.Example
    void encodingsSurviveTheWordCacheStartingOver() {
        StringBuilder sb = new StringBuilder();
        List<String> words = new ArrayList<>();
        for (int i = 0; i < 80_000; i++) { // the cache holds 65,536 words
            StringBuilder w = new StringBuilder(" ");
            for (int v = i * 7919 + 11; v > 0; v /= 26) w.append((char) ('a' + v % 26)); // distinct letter words
            words.add(w.toString());
            sb.append(w);
        }
        String text = sb.toString();
        int[] first = TOKENIZER.encode(text), second = TOKENIZER.encode(text);
        assertTrue(Arrays.equals(first, second));
        assertEquals(text, TOKENIZER.decode(first));
        List<Integer> expected = new ArrayList<>();
        for (String w : words) expected.addAll(TokenizerTestSupport.referenceEncodeWord(TOKENIZER, w.getBytes(StandardCharsets.UTF_8)));
        assertEquals(expected, Arrays.stream(second).boxed().toList());
    }

    /** Chunked reading cuts only at pre-token boundaries, so chunk-by-chunk encoding equals whole encoding. */
    @Property(tries = 100) // three generated strings per try: 100 tries keep this test near a second
    void chunkedEncodingEqualsWholeEncoding(@ForAll("text") String a, @ForAll("text") String b, @ForAll("text") String c)
            throws Exception {
        String s = a + "\n" + b + "\n\n" + c + "\nend\n";
        StringBuilder joined = new StringBuilder();
        List<Integer> chunked = new ArrayList<>();
        TokenizerTextChunks.read(new java.io.StringReader(s), 7, (chunk, last) -> {
            joined.append(chunk);
            for (int id : TOKENIZER.encode(chunk)) chunked.add(id);
        });
        assertEquals(s, joined.toString());
        assertEquals(Arrays.stream(TOKENIZER.encode(s)).boxed().toList(), chunked);
    }
}
