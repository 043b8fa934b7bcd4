package tern.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;

class TokenizerFilesTest {
    private static final String SAMPLE = TokenizerTestSupport.trainingText(11, 3000) + " \t\r\n ünïcödé 😀👍🏽 中文 ";

    @Test
    void saveThenLoadGivesTheSameTokenizer(@TempDir Path dir) throws Exception {
        Tokenizer t = TokenizerTestSupport.trained(700);
        Path file = dir.resolve("tokenizer.json");
        TokenizerFiles.save(t, file);
        Tokenizer back = TokenizerFiles.load(file);
        assertEquals(t.vocabSize(), back.vocabSize());
        for (int id = 0; id < t.vocabSize(); id++) assertEquals(t.token(id), back.token(id));
        assertEquals(t.endOfText(), back.endOfText());
        assertArrayEquals(t.encode(SAMPLE), back.encode(SAMPLE));
        assertEquals(SAMPLE, back.decode(back.encode(SAMPLE)));
    }

    /** The fields Hugging Face tokenizers needs to rebuild a GPT-2-style tokenizer from our file. */
    @Test
    @SuppressWarnings("unchecked")
    void writesTheHuggingFaceLayout(@TempDir Path dir) throws Exception {
        Tokenizer t = TokenizerTestSupport.trained(300);
        Path file = dir.resolve("tokenizer.json");
        TokenizerFiles.save(t, file);
        Map<String, Object> root = Json.parseObject(Files.readString(file));
        Map<String, Object> model = (Map<String, Object>) root.get("model");
        assertEquals("BPE", model.get("type"));
        assertEquals(300, ((Map<?, ?>) model.get("vocab")).size());
        assertEquals(43, ((List<?>) model.get("merges")).size());
        assertEquals("ByteLevel", ((Map<?, ?>) root.get("pre_tokenizer")).get("type"));
        assertEquals("ByteLevel", ((Map<?, ?>) root.get("decoder")).get("type"));
        Map<?, ?> eot = (Map<?, ?>) ((List<?>) root.get("added_tokens")).getFirst();
        assertEquals(List.of("<|endoftext|>", 299L, true), List.of(eot.get("content"), eot.get("id"), eot.get("special")));
        assertEquals(299L, ((Map<?, ?>) model.get("vocab")).get("<|endoftext|>"));
    }

    @Test
    void loadsGpt2VocabAndMergesToHandCheckedIds() throws Exception {
        Tokenizer t = TokenizerFiles.loadGpt2(TokenizerTestSupport.resource("gpt2-tiny-vocab.json"),
                TokenizerTestSupport.resource("gpt2-tiny-merges.txt"));
        checkTinyVocabulary(t);
    }

    @Test
    void loadsHuggingFaceFileWithPairMergesToHandCheckedIds() throws Exception {
        checkTinyVocabulary(TokenizerFiles.load(TokenizerTestSupport.resource("tiny-tokenizer.json")));
    }

    private static void checkTinyVocabulary(Tokenizer t) {
        assertEquals(20, t.vocabSize());
        assertEquals(19, t.endOfText());
        assertArrayEquals(new int[] {12, 17}, t.encode("hello world"));
        assertArrayEquals(new int[] {12, 8}, t.encode("hello!"));
        assertArrayEquals(new int[] {10, 3}, t.encode("llo"), "merge 'l l' (rank 1) outranks 'l o' (rank 9)");
        assertArrayEquals(new int[] {18, 2}, t.encode("lol"));
        assertArrayEquals(new int[] {15, 7}, t.encode(" word"));
        assertArrayEquals(new int[] {12, 4, 12}, t.encode("hello hello"));
        assertEquals("hello world!<|endoftext|>", t.decode(new int[] {12, 17, 8, 19}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.encode("hz"));
        assertTrue(e.getMessage().contains("0x7A"), e.getMessage());
    }

    @Test
    void badFilesNameTheFileAndTheProblem(@TempDir Path dir) throws Exception {
        Path vocab = TokenizerTestSupport.resource("gpt2-tiny-vocab.json");
        Path merges = dir.resolve("merges.txt");
        Files.writeString(merges, "#version: 0.2\nh e\nx y\n");
        var e = assertThrows(TokenizerFormatException.class, () -> TokenizerFiles.loadGpt2(vocab, merges));
        assertTrue(e.getMessage().contains(vocab.toString()) && e.getMessage().contains("'x' is not in the vocabulary"), e.getMessage());

        Files.writeString(merges, "#version: 0.2\nh  e\n");
        e = assertThrows(TokenizerFormatException.class, () -> TokenizerFiles.loadGpt2(vocab, merges));
        assertTrue(e.getMessage().contains(merges.toString()) && e.getMessage().contains("line 2"), e.getMessage());

        String good = Files.readString(TokenizerTestSupport.resource("tiny-tokenizer.json"));
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, good.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\""));
        e = assertThrows(TokenizerFormatException.class, () -> TokenizerFiles.load(json));
        assertTrue(e.getMessage().contains(json.toString()) && e.getMessage().contains("WordPiece"), e.getMessage());

        Files.writeString(json, good.replace("\"lo\": 18,", "\"lo\": 21,"));
        e = assertThrows(TokenizerFormatException.class, () -> TokenizerFiles.load(json));
        assertTrue(e.getMessage().contains("no token has id 18"), e.getMessage());

        Files.writeString(json, good.substring(0, good.length() / 2));
        e = assertThrows(TokenizerFormatException.class, () -> TokenizerFiles.load(json));
        assertTrue(e.getMessage().contains("malformed JSON"), e.getMessage());
    }
}
