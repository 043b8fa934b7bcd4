package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The shards {@link Prepare} wrote into one directory: {@code train-NNNNN.tok} and {@code val-NNNNN.tok},
 * opened in name order and checked to share one vocabulary size. Closing it unmaps them all.
 */
public final class TokenShardSet implements AutoCloseable {
    static final String TRAIN_PREFIX = "train-", VAL_PREFIX = "val-", SUFFIX = ".tok";

    private final Path dir;
    private final List<TokenShard> train;
    private final List<TokenShard> val;
    private final int vocabSize;

    private TokenShardSet(Path dir, List<TokenShard> train, List<TokenShard> val, int vocabSize) {
        this.dir = dir;
        this.train = List.copyOf(train);
        this.val = List.copyOf(val);
        this.vocabSize = vocabSize;
    }

    /**
     * Opens and validates every shard of {@code dir}, and checks them against its meta.json
     * ({@link DataFolderCheck}); there must be at least one training shard. Warnings (no validation tokens,
     * no meta.json) are printed on standard error.
     */
    public static TokenShardSet open(Path dir) throws IOException {
        return open(dir, System.err::println);
    }

    /** {@link #open(Path)} handing its warnings to {@code warn} (a run's progress printer, say). */
    public static TokenShardSet open(Path dir, java.util.function.Consumer<String> warn) throws IOException {
        List<TokenShard> opened = new ArrayList<>();
        try {
            List<TokenShard> train = openAll(dir, TRAIN_PREFIX, opened);
            List<TokenShard> val = openAll(dir, VAL_PREFIX, opened);
            if (train.isEmpty()) throw new DataException(dir, "no training shards (" + TRAIN_PREFIX + "*" + SUFFIX + "); run tern prepare first");
            int vocab = train.getFirst().vocabSize();
            for (TokenShard s : opened)
                if (s.vocabSize() != vocab)
                    throw new DataException(s.file(), "vocabulary size " + s.vocabSize() + " differs from " + vocab + " in " + train.getFirst().file());
            DataFolderCheck.check(dir, train, val, warn);
            return new TokenShardSet(dir, train, val, vocab);
        } catch (RuntimeException | IOException e) {
            opened.forEach(TokenShard::close);
            throw e;
        }
    }

    static List<Path> list(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> {
                String n = p.getFileName().toString();
                return n.startsWith(prefix) && n.endsWith(SUFFIX) && Files.isRegularFile(p);
            }).sorted().toList();
        }
    }

    private static List<TokenShard> openAll(Path dir, String prefix, List<TokenShard> opened) throws IOException {
        List<TokenShard> out = new ArrayList<>();
        for (Path p : list(dir, prefix)) {
            TokenShard s = TokenShard.open(p);
            opened.add(s);
            out.add(s);
        }
        return out;
    }

    public Path dir() { return dir; }
    public List<TokenShard> train() { return train; }
    public List<TokenShard> val() { return val; }
    public int vocabSize() { return vocabSize; }

    public long trainTokens() { return train.stream().mapToLong(TokenShard::tokenCount).sum(); }
    public long valTokens() { return val.stream().mapToLong(TokenShard::tokenCount).sum(); }

    @Override
    public void close() {
        train.forEach(TokenShard::close);
        val.forEach(TokenShard::close);
    }
}
