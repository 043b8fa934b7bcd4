package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import tern.checkpoint.Json;
import tern.checkpoint.Utf8;

/**
 * A data folder's {@code meta.json} (what {@link Prepare} wrote) against the shards actually there, and its
 * validation split. Decided per case:
 * <ul>
 *   <li>errors ({@link DataException} naming meta.json and the field): meta.json that is not UTF-8 JSON, not
 *       Tern's format, or lacks a field; a vocab_size other than the shards'; training shards missing or
 *       not listed, a train_tokens other than theirs; validation shards present but not the ones listed, or a
 *       val_tokens other than theirs. The folder is not what was prepared: training on it would not be the
 *       run the user meant.</li>
 *   <li>warnings (training can go on, but reports no validation loss): no validation shard, or validation
 *       shards holding no tokens; no meta.json at all (shards written by other means: nothing to check them
 *       against).</li>
 * </ul>
 */
final class DataFolderCheck {
    static final String META = "meta.json";
    static final String FORMAT = "tern token shards";

    private DataFolderCheck() {}

    /** Checks {@code dir}, whose opened shards are {@code train} and {@code val}; warnings go to {@code warn}. */
    static void check(Path dir, List<TokenShard> train, List<TokenShard> val, Consumer<String> warn) throws IOException {
        Path metaFile = dir.resolve(META);
        long valTokens = val.stream().mapToLong(TokenShard::tokenCount).sum();
        if (val.isEmpty())
            warn.accept("warning: " + dir + " holds no validation shard (" + TokenShardSet.VAL_PREFIX + "*" + TokenShardSet.SUFFIX
                    + ")" + listedValidation(metaFile) + ": training will report no validation loss (tern prepare --val-fraction F makes one)");
        else if (valTokens == 0)
            warn.accept("warning: " + dir + ": the validation shards hold no tokens: training will report no validation loss");
        if (!Files.exists(metaFile)) {
            warn.accept("warning: " + dir + " has no " + META + ": its shards cannot be checked against what tern prepare wrote");
            return;
        }
        Map<String, Object> meta = read(metaFile);
        if (!FORMAT.equals(meta.get("format")))
            throw new DataException(metaFile, "format is " + Json.write(meta.get("format")) + ", expected \"" + FORMAT + "\"");
        int vocab = train.getFirst().vocabSize();
        long metaVocab = integer(metaFile, meta, "vocab_size");
        if (metaVocab != vocab)
            throw new DataException(metaFile, "vocab_size " + metaVocab + ", but the shards' vocabulary is " + vocab
                    + " (" + train.getFirst().file() + "): the folder was not prepared with this tokenizer");
        checkSplit(metaFile, meta, "train", train);
        if (!val.isEmpty()) checkSplit(metaFile, meta, "val", val);
    }

    /** The split's shard names and token total against meta.json's {@code SPLIT_shards} and {@code SPLIT_tokens}. */
    private static void checkSplit(Path metaFile, Map<String, Object> meta, String split, List<TokenShard> shards) {
        List<String> listed = names(metaFile, meta, split + "_shards");
        List<String> present = shards.stream().map(s -> s.file().getFileName().toString()).toList();
        for (String n : listed)
            if (!present.contains(n))
                throw new DataException(metaFile, split + "_shards lists " + n + ", which is not in " + metaFile.getParent());
        for (String n : present)
            if (!listed.contains(n))
                throw new DataException(metaFile, "the folder's " + n + " is not in " + split + "_shards " + listed + ": it was not written with the others");
        long tokens = shards.stream().mapToLong(TokenShard::tokenCount).sum();
        long metaTokens = integer(metaFile, meta, split + "_tokens");
        if (metaTokens != tokens)
            throw new DataException(metaFile, split + "_tokens " + metaTokens + ", but the " + split + " shards hold " + tokens + " tokens");
    }

    /** ", though meta.json lists N" when meta.json names validation shards that are gone. */
    private static String listedValidation(Path metaFile) {
        try {
            if (!Files.isRegularFile(metaFile)) return "";
            Object listed = Json.parseObject(Utf8.read(metaFile)).get("val_shards");
            return listed instanceof List<?> l && !l.isEmpty() ? ", though " + META + " lists " + l : "";
        } catch (IOException | RuntimeException unreadable) {
            return "";                                       // reported as an error by the full check
        }
    }

    private static Map<String, Object> read(Path metaFile) throws IOException {
        try {
            return Json.parseUniqueObject(Utf8.read(metaFile));
        } catch (Utf8.MalformedText e) {
            throw new DataException(metaFile, e.problem());
        } catch (Json.JsonException e) {
            throw new DataException(metaFile, "not valid JSON (" + e.getMessage() + "); tern prepare writes it again");
        }
    }

    private static long integer(Path metaFile, Map<String, Object> meta, String key) {
        if (!(meta.get(key) instanceof Long v) || v < 0)
            throw new DataException(metaFile, key + " must be a non-negative integer, got " + Json.write(meta.get(key)));
        return v;
    }

    private static List<String> names(Path metaFile, Map<String, Object> meta, String key) {
        List<String> out = new ArrayList<>();
        if (!(meta.get(key) instanceof List<?> list))
            throw new DataException(metaFile, key + " must be a list of shard file names, got " + Json.write(meta.get(key)));
        for (Object o : list) {
            if (!(o instanceof String s)) throw new DataException(metaFile, key + " must be a list of shard file names, got " + Json.write(o));
            out.add(s);
        }
        return out;
    }
}
