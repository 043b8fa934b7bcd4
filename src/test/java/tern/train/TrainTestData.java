package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import tern.model.BpeTrainer;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;

/** Small token-shard folders for the trainer's tests, made in a second or two. */
final class TrainTestData {
    private TrainTestData() {}

    /** Shards (and tokenizer.json) of {@code text} with a BPE vocabulary of {@code vocab} trained on it. */
    static Path shards(String text, int vocab, double valFraction, Path dir) throws IOException {
        BpeTrainer bpe = new BpeTrainer();
        bpe.addText(text);
        Tokenizer tokenizer = bpe.train(vocab, s -> {});
        Files.createDirectories(dir);
        TokenizerFiles.save(tokenizer, dir.resolve(TrainCheckpoint.TOKENIZER));
        Prepare.fromText(text, tokenizer, dir, valFraction);
        return dir;
    }

    /** About 300 kB of the demo's grammar corpus as shards with a 320-token vocabulary. */
    static Path grammarShards(Path dir) throws IOException {
        return shards(GrammarCorpus.generate(3, 300_000), 320, 0.02, dir);
    }

    /** Settings of a run of the tiny preset small enough for a unit test. */
    static Map<String, Object> tinyRun(String precision, Path data, Path out, long steps) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", "tiny");
        m.put("precision", precision);
        m.put("data", data.toString());
        m.put("out", out.toString());
        m.put("steps", steps);
        m.put("batch", 4);
        m.put("seq", 32);
        m.put("seed", 11L);
        return m;
    }
}
