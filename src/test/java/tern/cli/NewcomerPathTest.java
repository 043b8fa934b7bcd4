package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.train.GrammarCorpus;
import tern.train.TrainCheckpoint;

/**
 * The README's first path for one's own text, command by command as written there (tiny sizes):
 * {@code tern tokenizer train} → {@code tern prepare} → {@code tern train} → {@code tern generate}. Before
 * prepare wrote the tokenizer into the shard folder, the checkpoints had none and generate failed with
 * "tokenizer.json: missing".
 */
class NewcomerPathTest {
    @Test
    void tokenizerPrepareTrainGenerate(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, GrammarCorpus.generate(4, 60_000));
        Path tokenizer = tmp.resolve("tokenizer.json"), data = tmp.resolve("shards"), run = tmp.resolve("run");

        assertEquals(0, TokenizerCommand.run(new String[]{"train", "--input", corpus.toString(), "--vocab", "300", "--out", tokenizer.toString()}));
        assertEquals(0, PrepareCommand.run(new String[]{"--input", corpus.toString(), "--tokenizer", tokenizer.toString(), "--out", data.toString(),
                "--val-fraction", "0.05"}));
        assertEquals(Files.readString(tokenizer), Files.readString(data.resolve(TrainCheckpoint.TOKENIZER)), "prepare keeps the tokenizer with the shards");

        String trainErr = capturingErr(() -> TrainCommand.run(new String[]{"--preset", "tiny", "--precision", "ternary", "--data", data.toString(),
                "--steps", "3", "--batch", "2", "--seq", "16", "--out", run.toString()}));
        assertTrue(!trainErr.contains("warning"), "a prepared folder warns of nothing: " + trainErr);
        assertTrue(Files.isRegularFile(TrainCheckpoint.find(run).resolve(TrainCheckpoint.TOKENIZER)), "the checkpoint holds the tokenizer");

        assertEquals(0, GenerateCommand.run(new String[]{"--ckpt", run.toString(), "--prompt", "The little dog", "--max-tokens", "5"}));
    }

    /** A folder without tokenizer.json or validation shards trains, but says what will be missing. */
    @Test
    void trainWarnsAboutAnIncompleteDataFolder(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, GrammarCorpus.generate(5, 30_000));
        Path tokenizer = tmp.resolve("tokenizer.json"), data = tmp.resolve("shards");
        TokenizerCommand.run(new String[]{"train", "--input", corpus.toString(), "--vocab", "280", "--out", tokenizer.toString()});
        PrepareCommand.run(new String[]{"--input", corpus.toString(), "--tokenizer", tokenizer.toString(), "--out", data.toString(), "--val-fraction", "0"});
        Files.delete(data.resolve(TrainCheckpoint.TOKENIZER));
        String err = capturingErr(() -> TrainCommand.run(new String[]{"--preset", "tiny", "--data", data.toString(), "--steps", "1", "--batch", "2",
                "--seq", "16", "--out", tmp.resolve("run").toString()}));
        assertTrue(err.contains("has no tokenizer.json"), err);
        assertTrue(err.contains("no validation shard"), err);
    }

    private interface Command { int run() throws Exception; }

    private static String capturingErr(Command c) throws Exception {
        PrintStream old = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, c.run());
        } finally {
            System.setErr(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
