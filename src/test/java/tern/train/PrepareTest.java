package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.model.BpeTrainer;
import tern.model.Tokenizer;

class PrepareTest {
    private static Tokenizer tokenizer;
    @TempDir Path dir;

    @BeforeAll
    static void trainTokenizer() {
        BpeTrainer t = new BpeTrainer();
        t.addText(GrammarCorpus.generate(77, 300_000));
        tokenizer = t.train(400, s -> {});
    }

    /** All tokens of a split's shards, in order. */
    private static List<Integer> tokens(List<TokenShard> shards) {
        List<Integer> out = new ArrayList<>();
        for (TokenShard s : shards) for (long i = 0; i < s.tokenCount(); i++) out.add(s.get(i));
        return out;
    }

    /** Splits a token stream at <|endoftext|> into decoded documents (every document ends with one). */
    private static List<String> documents(List<Integer> tokens) {
        List<String> docs = new ArrayList<>();
        List<Integer> cur = new ArrayList<>();
        for (int t : tokens) {
            if (t == tokenizer.endOfText()) {
                docs.add(tokenizer.decode(cur.stream().mapToInt(Integer::intValue).toArray()));
                cur.clear();
            } else {
                cur.add(t);
            }
        }
        assertTrue(cur.isEmpty(), "the stream ends with <|endoftext|>");
        return docs;
    }

    @Test
    void paragraphsBecomeDocumentsAndEveryKthGoesToValidation() throws IOException {
        List<String> paragraphs = new ArrayList<>();
        for (int i = 0; i < 250; i++) paragraphs.add("Paragraph " + i + " has a line.\nAnd a second line, with ünïcode 😀.");
        // separators of every kind: one blank line, several, whitespace-only lines, CRLF
        StringBuilder text = new StringBuilder("\n\n");
        for (int i = 0; i < paragraphs.size(); i++) {
            text.append(paragraphs.get(i));
            text.append(switch (i % 4) { case 0 -> "\n\n"; case 1 -> "\n\n\n\n"; case 2 -> "\n  \t\n"; default -> "\r\n\r\n"; });
        }
        Prepare.Summary s = Prepare.fromText(text.toString(), tokenizer, dir, 0.1);
        assertEquals(250, s.documents());
        assertEquals(25, s.valDocuments());
        try (TokenShardSet set = TokenShardSet.open(dir)) {
            List<String> train = documents(tokens(set.train())), val = documents(tokens(set.val()));
            List<String> expectedTrain = new ArrayList<>(), expectedVal = new ArrayList<>();
            for (int i = 0; i < 250; i++) (i % 10 == 9 ? expectedVal : expectedTrain).add(paragraphs.get(i));
            assertEquals(expectedTrain, train);
            assertEquals(expectedVal, val);
            assertEquals(s.trainTokens(), set.trainTokens());
            assertEquals(s.valTokens(), set.valTokens());
        }
        Map<String, Object> meta = Json.parseObject(Files.readString(dir.resolve("meta.json")));
        assertEquals((long) tokenizer.vocabSize(), meta.get("vocab_size"));
        assertEquals(250L, meta.get("documents"));
    }

    /** Streaming in chunks gives the tokens of encoding each document whole; shards roll over at the size asked. */
    @Test
    void filesAndDirectoriesStreamIntoRolledShards() throws IOException {
        String big = GrammarCorpus.generate(5, 3_000_000); // crosses Prepare's 1 M-char chunks
        Path in = Files.createDirectories(dir.resolve("in/sub"));
        Files.writeString(dir.resolve("in/a.txt"), big);
        Files.writeString(in.resolve("b.txt"), "Last file, one paragraph.\n");
        Path out = dir.resolve("out");
        Prepare.Summary s = Prepare.run(List.of(dir.resolve("in")), tokenizer, out, 0.01, 200_000, m -> {});

        List<Integer> expected = new ArrayList<>();
        long doc = 0;
        List<String> paragraphs = new ArrayList<>(List.of(big.split("\n\n")));
        paragraphs.add("Last file, one paragraph.");
        List<Integer> expectedVal = new ArrayList<>();
        for (String p : paragraphs) {
            List<Integer> target = (doc % 100 == 99) ? expectedVal : expected;
            for (int t : tokenizer.encode(p)) target.add(t);
            target.add(tokenizer.endOfText());
            doc++;
        }
        assertEquals(paragraphs.size(), s.documents());
        try (TokenShardSet set = TokenShardSet.open(out)) {
            assertTrue(set.train().size() >= 3, "shards of 200,000 tokens: " + set.train().size());
            for (int i = 0; i + 1 < set.train().size(); i++) assertEquals(200_000, set.train().get(i).tokenCount());
            assertEquals(expected, tokens(set.train()));
            assertEquals(expectedVal, tokens(set.val()));
        }
        // a second run into the same directory replaces the old shards rather than mixing with them
        Prepare.fromText("One small document.", tokenizer, out, 0);
        try (TokenShardSet set = TokenShardSet.open(out)) {
            assertEquals(1, set.train().size());
            assertEquals(0, set.val().size());
        }
    }
}
