package tern.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {
    private static List<String> mergeStrings(Tokenizer t) {
        return t.merges().stream().map(m -> t.token(m[0]) + " " + t.token(m[1])).toList();
    }

    /**
     * "ab ab ab ab cd cd" has words ab×1, " ab"×3, " cd"×2: (a,b) occurs 4 times, then (Ġ,ab) 3 times,
     * then (Ġ,c) and (c,d) twice each — a tie that goes to the smaller pair (Ġ is byte 32, c is 99) —
     * then (Ġc,d); after that no pair is left.
     */
    @Test
    void learnsTheMostFrequentPairsInOrder() {
        BpeTrainer t = new BpeTrainer();
        t.addText("ab ab ab ab cd cd");
        Tokenizer tok = t.train(300, s -> {});
        assertEquals(List.of("a b", "Ġ ab", "Ġ c", "Ġc d"), mergeStrings(tok));
        assertEquals(256 + 4 + 1, tok.vocabSize(), "ran out of pairs: 256 bytes + 4 merges + <|endoftext|>");
        assertEquals(tok.vocabSize() - 1, tok.endOfText());
        assertArrayEquals(new int[] {tok.id("ab"), tok.id("Ġab"), tok.id("Ġcd")}, tok.encode("ab ab cd"));
    }

    @Test
    void stopsAtTheVocabularySizeAskedFor() {
        String text = TokenizerTestSupport.trainingText(7, 20_000);
        for (int vocab : new int[] {257, 258, 300, 777}) {
            BpeTrainer t = new BpeTrainer();
            t.addText(text);
            Tokenizer tok = t.train(vocab, s -> {});
            assertEquals(vocab, tok.vocabSize());
            assertEquals(vocab - 257, tok.merges().size());
            assertEquals(Tokenizer.END_OF_TEXT, tok.token(vocab - 1));
            assertTrue(tok.isSpecial(vocab - 1));
        }
    }

    @Test
    void mergesCompressTheTrainingTextAndTrainingIsDeterministic() {
        String text = TokenizerTestSupport.trainingText(3, 20_000);
        Tokenizer a = TokenizerTestSupport.trained(1000), b = TokenizerTestSupport.trained(1000);
        assertEquals(mergeStrings(a), mergeStrings(b));
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        int tokens = a.encode(text).length;
        assertTrue(tokens * 3 < bytes, "1000 ids should give more than 3 bytes per token on this text: " + tokens + " tokens for " + bytes + " bytes");
        assertEquals(text, a.decode(a.encode(text)));
    }

    @Test
    void streamingFilesCountsTheSameAsOneText(@TempDir Path dir) throws Exception {
        String text = TokenizerTestSupport.trainingText(5, 50_000); // > several chunks of the reader's buffer
        Path f = dir.resolve("corpus.txt");
        Files.writeString(f, text);
        Tokenizer fromFile = BpeTrainer.train(List.of(f), 500, s -> {});
        BpeTrainer t = new BpeTrainer();
        t.addText(text);
        assertEquals(mergeStrings(t.train(500, s -> {})), mergeStrings(fromFile));
    }

    @Test
    void refusesAVocabularyTooSmallForTheBytes() {
        BpeTrainer t = new BpeTrainer();
        t.addText("hello");
        assertThrows(IllegalArgumentException.class, () -> t.train(256, s -> {}));
    }
}
