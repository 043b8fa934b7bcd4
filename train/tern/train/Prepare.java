package tern.train;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import tern.checkpoint.Json;
import tern.model.Tokenizer;
import tern.model.TokenizerTextChunks;

/**
 * Turns text files into token shards. Files are streamed in chunks of about a million chars, cut only
 * where a pre-token ends, so a multi-GB corpus never sits in memory and the tokens are the same as
 * encoding each document whole.
 *
 * <p>A document is a blank-line-separated paragraph (a file's end also ends one): one or more lines
 * holding only whitespace separate documents and are dropped, trailing whitespace at a file's end is
 * dropped, and {@code <|endoftext|>} follows every document. Documents are numbered in input order
 * (directories walked in name order); document i goes to the validation split when
 * ⌊(i+1)·f⌋ &gt; ⌊i·f⌋ for the validation fraction f, i.e. every 100th document for f = 0.01 —
 * deterministic and spread over the whole corpus. Each split is written as shards of at most
 * {@code shardTokens} tokens ({@code train-00000.tok}, ..., {@code val-00000.tok}, ...) plus
 * {@code meta.json} describing the run; old shards in the output directory are removed first.
 */
public final class Prepare {
    public static final long DEFAULT_SHARD_TOKENS = 100_000_000L;
    public static final double DEFAULT_VAL_FRACTION = 0.01;

    private static final int CHUNK_CHARS = 1 << 20;
    private static final long PROGRESS_EVERY_CHARS = 32L << 20;
    /** A line end followed by one or more whitespace-only lines. */
    private static final Pattern SEPARATOR = Pattern.compile("\\r?\\n(?:[ \\t\\f\\u000B\\r]*\\n)+");

    /** What a run produced. */
    public record Summary(long documents, long valDocuments, long trainTokens, long valTokens, long chars,
                          List<Path> trainShards, List<Path> valShards) {}

    private final Tokenizer tokenizer;
    private final int eot;
    private final double valFraction;
    private final Consumer<String> progress;
    private final ShardSequence train, val;
    private long documents, valDocuments, chars, nextReport = PROGRESS_EVERY_CHARS;
    private boolean inDocument;
    private ShardSequence current;

    private Prepare(Tokenizer tokenizer, Path outDir, double valFraction, long shardTokens, Consumer<String> progress) {
        if (!(valFraction >= 0 && valFraction < 1)) throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + valFraction);
        if (shardTokens <= 0) throw new IllegalArgumentException("tokens per shard must be positive, got " + shardTokens);
        this.tokenizer = tokenizer;
        this.eot = tokenizer.endOfText();
        if (eot < 0) throw new IllegalArgumentException("the tokenizer has no " + Tokenizer.END_OF_TEXT + " special token to separate documents");
        this.valFraction = valFraction;
        this.progress = progress;
        this.train = new ShardSequence(outDir, TokenShardSet.TRAIN_PREFIX, tokenizer.vocabSize(), shardTokens);
        this.val = new ShardSequence(outDir, TokenShardSet.VAL_PREFIX, tokenizer.vocabSize(), shardTokens);
    }

    /** Encodes {@code inputs} (files, or directories walked recursively in name order) into shards in {@code outDir}. */
    public static Summary run(List<Path> inputs, Tokenizer tokenizer, Path outDir, double valFraction, long shardTokens,
                              Consumer<String> progress) throws IOException {
        List<Path> files = expand(inputs);
        Prepare p = start(tokenizer, outDir, valFraction, shardTokens, progress);
        for (Path f : files) {
            try (Reader r = TokenizerTextChunks.open(f)) {
                p.addFile(r, f.toString());
            }
        }
        return p.finish(outDir, files.stream().map(Path::toString).toList());
    }

    /** Encodes one text (the generated corpus, a slice) into shards in {@code outDir}: what the demo and tests call. */
    public static Summary fromText(String text, Tokenizer tokenizer, Path outDir, double valFraction) throws IOException {
        Prepare p = start(tokenizer, outDir, valFraction, DEFAULT_SHARD_TOKENS, s -> {});
        p.addFile(new StringReader(text), "(text)");
        return p.finish(outDir, List.of("(text of " + text.length() + " chars)"));
    }

    private static Prepare start(Tokenizer tokenizer, Path outDir, double valFraction, long shardTokens, Consumer<String> progress)
            throws IOException {
        Files.createDirectories(outDir);
        for (String prefix : List.of(TokenShardSet.TRAIN_PREFIX, TokenShardSet.VAL_PREFIX))
            for (Path old : TokenShardSet.list(outDir, prefix)) Files.delete(old);
        return new Prepare(tokenizer, outDir, valFraction, shardTokens, progress);
    }

    /** Files as given; directories replaced by the regular files below them, in name order. */
    public static List<Path> expand(List<Path> inputs) throws IOException {
        List<Path> files = new ArrayList<>();
        for (Path in : inputs) {
            if (Files.isDirectory(in)) {
                try (Stream<Path> s = Files.walk(in)) {
                    files.addAll(s.filter(Files::isRegularFile).sorted().toList());
                }
            } else if (Files.isRegularFile(in)) {
                files.add(in);
            } else {
                throw new java.nio.file.NoSuchFileException(in.toString(), null, "no such file or directory");
            }
        }
        return files;
    }

    private void addFile(Reader in, String name) throws IOException {
        TokenizerTextChunks.read(in, CHUNK_CHARS, (chunk, last) -> {
            String text = last ? chunk.stripTrailing() : chunk;
            Matcher m = SEPARATOR.matcher(text);
            int from = 0;
            while (m.find()) {
                addToDocument(text.substring(from, m.start()));
                endDocument();
                from = m.end();
            }
            addToDocument(text.substring(from));
            chars += chunk.length();
            if (chars >= nextReport) {
                nextReport += PROGRESS_EVERY_CHARS;
                progress.accept(String.format("%s: %,d MB read, %,d documents, %,d train + %,d val tokens",
                        name, chars >> 20, documents, train.tokens(), val.tokens()));
            }
        });
        endDocument();
    }

    private void addToDocument(String piece) {
        if (piece.isEmpty()) return;
        if (!inDocument) {
            inDocument = true;
            long i = documents++;
            boolean isVal = Math.floor((i + 1) * valFraction) > Math.floor(i * valFraction);
            if (isVal) valDocuments++;
            current = isVal ? val : train;
        }
        tokenizer.encode(piece, current);
    }

    private void endDocument() {
        if (!inDocument) return;
        current.accept(eot);
        inDocument = false;
    }

    private Summary finish(Path outDir, List<String> sources) throws IOException {
        List<Path> trainShards = train.close(), valShards = val.close();
        Summary s = new Summary(documents, valDocuments, train.tokens(), val.tokens(), chars, trainShards, valShards);
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("format", "tern token shards");
        meta.put("shard_version", TokenShardFormat.VERSION);
        meta.put("vocab_size", tokenizer.vocabSize());
        meta.put("end_of_text", eot);
        meta.put("document", "blank-line-separated paragraph; <|endoftext|> after each");
        meta.put("val_fraction", valFraction);
        meta.put("documents", documents);
        meta.put("val_documents", valDocuments);
        meta.put("train_tokens", train.tokens());
        meta.put("val_tokens", val.tokens());
        meta.put("train_shards", trainShards.stream().map(p -> p.getFileName().toString()).toList());
        meta.put("val_shards", valShards.stream().map(p -> p.getFileName().toString()).toList());
        meta.put("sources", sources);
        Path tmp = outDir.resolve("meta.json.tmp");
        Files.writeString(tmp, Json.pretty(meta));
        Files.move(tmp, outDir.resolve("meta.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        if (valFraction > 0 && valDocuments == 0)
            progress.accept("warning: " + documents + " documents are too few for a validation fraction of " + valFraction + "; no validation shard");
        return s;
    }

    /** One split's shards: opens the next file when the current one holds {@code shardTokens}. */
    private static final class ShardSequence implements java.util.function.IntConsumer {
        private final Path dir;
        private final String prefix;
        private final int vocabSize;
        private final long shardTokens;
        private final List<Path> written = new ArrayList<>();
        private TokenShardWriter writer;
        private long tokens;

        ShardSequence(Path dir, String prefix, int vocabSize, long shardTokens) {
            this.dir = dir;
            this.prefix = prefix;
            this.vocabSize = vocabSize;
            this.shardTokens = shardTokens;
        }

        @Override
        public void accept(int token) {
            try {
                if (writer != null && writer.count() >= shardTokens) { writer.close(); written.add(writer.file()); writer = null; }
                if (writer == null)
                    writer = new TokenShardWriter(dir.resolve(String.format("%s%05d%s", prefix, written.size(), TokenShardSet.SUFFIX)), vocabSize);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            writer.accept(token);
            tokens++;
        }

        long tokens() { return tokens; }

        List<Path> close() throws IOException {
            if (writer != null) { writer.close(); written.add(writer.file()); writer = null; }
            return List.copyOf(written);
        }
    }
}
