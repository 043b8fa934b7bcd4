package tern.train;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;

/**
 * A data folder whose meta.json is broken or disagrees with its shards is refused; one without validation
 * tokens opens with a warning (issue #14, item 10). Training, quantization calibration and the precision runs
 * all open data through {@link TokenShardSet#open}.
 */
class DataFolderCheckTest {
    private static final String TEXT = GrammarCorpus.generate(2, 40_000);
    @TempDir Path dir;

    @Test
    void brokenMetaJsonIsAnError() throws IOException {
        Path data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("d"));
        Files.writeString(data.resolve("meta.json"), "{\"format\": \"tern token shards\", \"vocab_size\": ");
        refused(data, data.resolve("meta.json") + ": ");
    }

    @Test
    void metaJsonDisagreeingWithTheShardsIsAnError() throws IOException {
        Path data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("d"));
        editMeta(data, m -> m.put("vocab_size", 512L));
        refused(data, "vocab_size 512");
        data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("e"));
        editMeta(data, m -> m.put("train_tokens", (Long) m.get("train_tokens") + 1));
        refused(data, "train_tokens");
        data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("f"));
        Files.copy(data.resolve("train-00000.tok"), data.resolve("train-00007.tok"));
        refused(data, "train-00007.tok");
    }

    @Test
    void missingValidationShardsAreAWarning() throws IOException {
        Path data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("d"));
        for (Path p : TokenShardSet.list(data, "val-")) Files.delete(p);
        String err = opened(data);
        assertTrue(err.contains("warning") && err.contains(data.toString()) && err.contains("validation"), err);
    }

    @Test
    void emptyValidationShardIsAWarning() throws IOException {
        Path data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("d"));
        for (Path p : TokenShardSet.list(data, "val-")) Files.delete(p);
        new TokenShardWriter(data.resolve("val-00000.tok"), 300).close();
        editMeta(data, m -> { m.put("val_tokens", 0L); m.put("val_shards", List.of("val-00000.tok")); });
        String err = opened(data);
        assertTrue(err.contains("warning") && err.contains("validation") && err.contains("no tokens"), err);
    }

    @Test
    void aGoodFolderOpensWithoutAWord() throws IOException {
        Path data = TrainTestData.shards(TEXT, 300, 0.1, dir.resolve("d"));
        String err = opened(data);
        assertTrue(err.isEmpty(), err);
    }

    private static void refused(Path data, String expected) {
        Exception e = assertThrows(DataException.class, () -> TokenShardSet.open(data).close());
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' should contain '" + expected + "'");
    }

    /** Opens the folder and returns what it printed on standard error. */
    private static String opened(Path data) throws IOException {
        PrintStream saved = System.err;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setErr(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try (TokenShardSet set = TokenShardSet.open(data)) {
            return bytes.toString(StandardCharsets.UTF_8);
        } finally {
            System.setErr(saved);
        }
    }

    private static void editMeta(Path data, Consumer<Map<String, Object>> edit) throws IOException {
        Map<String, Object> meta = Json.parseObject(Files.readString(data.resolve("meta.json")));
        edit.accept(meta);
        Files.writeString(data.resolve("meta.json"), Json.pretty(meta));
    }
}
