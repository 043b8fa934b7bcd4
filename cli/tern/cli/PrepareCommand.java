package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.train.Prepare;

/**
 * {@code tern prepare --input FILE_OR_DIR... --tokenizer tokenizer.json --out DIR [--val-fraction 0.01]
 * [--shard-tokens N]}: encodes text into token shards for training (format and document rule in
 * {@link Prepare}).
 */
final class PrepareCommand {
    private static final String USAGE = """
            usage: tern prepare --input FILE_OR_DIR... --tokenizer tokenizer.json --out DIR
                                [--val-fraction 0.01] [--shard-tokens 100000000]
              Streams the text files (directories: every file below, in name order), one document per
              blank-line-separated paragraph, <|endoftext|> after each; every (1/f)th document goes to
              the validation split. Writes DIR/train-NNNNN.tok, DIR/val-NNNNN.tok, DIR/meta.json and
              DIR/tokenizer.json (a copy of the tokenizer used: tern train puts it in every checkpoint).""";

    private PrepareCommand() {}

    static int run(String[] args) throws Exception {
        if (args.length == 0 || List.of(args).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        List<Path> inputs = new ArrayList<>();
        Args a = Args.parse("prepare", TokenizerCommand.takeMany(args, "input", inputs),
                Set.of("tokenizer", "out", "val-fraction", "shard-tokens"), Set.of());
        if (inputs.isEmpty()) throw new UsageException("--input needs at least one file or directory");
        Path tokenizerFile = Path.of(a.required("tokenizer"));
        Tokenizer t = TokenizerFiles.load(tokenizerFile);
        Path out = Path.of(a.required("out"));
        double valFraction = a.doubleValue("val-fraction", Prepare.DEFAULT_VAL_FRACTION);
        if (!(valFraction >= 0 && valFraction < 1)) throw new UsageException("--val-fraction must be in [0, 1), got " + valFraction);
        long shardTokens = a.longValue("shard-tokens", Prepare.DEFAULT_SHARD_TOKENS);
        if (shardTokens <= 0) throw new UsageException("--shard-tokens must be positive, got " + shardTokens);
        long t0 = System.nanoTime();
        Prepare.Summary s = Prepare.run(inputs, t, out, valFraction, shardTokens, System.err::println);
        double secs = (System.nanoTime() - t0) / 1e9;
        // the shards are ids of this tokenizer: the folder carries it, so runs on it save it in their checkpoints
        Path copy = out.resolve(tern.train.TrainCheckpoint.TOKENIZER);
        if (!Files.exists(copy) || !Files.isSameFile(copy, tokenizerFile))
            tern.checkpoint.AtomicFiles.writeString(copy, Files.readString(tokenizerFile));
        System.out.printf("%,d documents (%,d validation), %,d chars -> %,d train tokens in %d shard(s), %,d val tokens in %d shard(s); %.1f s, %.1f MB/s%n",
                s.documents(), s.valDocuments(), s.chars(), s.trainTokens(), s.trainShards().size(), s.valTokens(),
                s.valShards().size(), secs, s.chars() / 1e6 / secs);
        return 0;
    }
}
