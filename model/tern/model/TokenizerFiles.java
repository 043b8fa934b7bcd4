package tern.model;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tern.checkpoint.Json;

/**
 * Reads and writes tokenizers in the two formats the Hugging Face world uses: a {@code tokenizer.json}
 * (model type BPE, ByteLevel pre-tokenizer and decoder, {@code <|endoftext|>} as an added special
 * token), which {@code tokenizers.Tokenizer.from_file} and {@code PreTrainedTokenizerFast} load; and
 * GPT-2's original pair {@code vocab.json} + {@code merges.txt}.
 */
public final class TokenizerFiles {
    private TokenizerFiles() {}

    // ---- tokenizer.json ------------------------------------------------------------------------------

    /** Loads a byte-level BPE {@code tokenizer.json}; other models and pre-tokenizers are refused. */
    public static Tokenizer load(Path file) throws IOException {
        Map<String, Object> root;
        try {
            root = Json.parseObject(tern.checkpoint.Utf8.read(file));
        } catch (Json.JsonException e) {
            throw new TokenizerFormatException(file, e.getMessage(), e);
        } catch (tern.checkpoint.Utf8.MalformedText e) {
            throw new TokenizerFormatException(file, e.problem(), e);
        }
        Map<String, Object> model = object(root.get("model"), file, "model");
        Object type = model.get("type");
        if (type != null && !"BPE".equals(type))
            throw new TokenizerFormatException(file, "model type is " + type + ", only BPE is supported");
        boolean prefixSpace = byteLevelPrefixSpace(root.get("pre_tokenizer"), file);
        Map<String, Object> vocabJson = object(model.get("vocab"), file, "model.vocab");
        Object mergesJson = model.get("merges");
        if (!(mergesJson instanceof List<?> mergeList))
            throw new TokenizerFormatException(file, "model.merges is missing or not a list");

        Map<Integer, String> byId = new java.util.HashMap<>();
        for (Map.Entry<String, Object> e : vocabJson.entrySet())
            putId(byId, e.getKey(), e.getValue(), file, "model.vocab");
        Set<Integer> specials = new HashSet<>();
        if (root.get("added_tokens") instanceof List<?> added) {
            for (Object o : added) {
                Map<String, Object> t = object(o, file, "added_tokens entry");
                if (!(t.get("content") instanceof String content))
                    throw new TokenizerFormatException(file, "added token " + Json.write(t) + " has no string content");
                int id = idOf(t.get("id"), file, "added_tokens");
                if (!content.equals(byId.get(id))) putId(byId, content, t.get("id"), file, "added_tokens");
                // Added tokens hold raw text, not byte-level characters, whether or not HF calls them special.
                specials.add(id);
            }
        }
        List<String[]> merges = new ArrayList<>(mergeList.size());
        for (Object m : mergeList) merges.add(mergePair(m, file));
        return build(byId, specials, merges, prefixSpace, file);
    }

    /** Writes {@code tokenizer} as a Hugging Face {@code tokenizer.json}, atomically (temp file, then rename). */
    public static void save(Tokenizer tokenizer, Path file) throws IOException {
        writeAtomically(file, toJson(tokenizer));
    }

    /** {@code tokenizer} as the text of a Hugging Face {@code tokenizer.json}. */
    public static String toJson(Tokenizer tokenizer) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        List<Object> added = new ArrayList<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            if (!tokenizer.isSpecial(id)) continue;
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", id);
            t.put("content", tokenizer.token(id));
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", true);
            t.put("special", true);
            added.add(t);
        }
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", byteLevel(tokenizer.addsPrefixSpace(), true));
        root.put("post_processor", byteLevel(tokenizer.addsPrefixSpace(), false));
        root.put("decoder", byteLevel(tokenizer.addsPrefixSpace(), true));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        Map<String, Object> vocab = new LinkedHashMap<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) vocab.put(tokenizer.token(id), id);
        model.put("vocab", vocab);
        // "left right" strings, the form every tokenizers version reads; byte-level tokens never hold a space.
        List<Object> merges = new ArrayList<>();
        for (int[] m : tokenizer.merges()) merges.add(tokenizer.token(m[0]) + " " + tokenizer.token(m[1]));
        model.put("merges", merges);
        root.put("model", model);
        return Json.pretty(root);
    }

    private static Map<String, Object> byteLevel(boolean prefixSpace, boolean trimOffsets) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", prefixSpace);
        m.put("trim_offsets", trimOffsets);
        m.put("use_regex", true);
        return m;
    }

    /** Checks the pre-tokenizer is GPT-2's byte-level split; returns its add_prefix_space. */
    private static boolean byteLevelPrefixSpace(Object pre, Path file) throws TokenizerFormatException {
        if (pre == null) throw new TokenizerFormatException(file, "no pre_tokenizer: only byte-level BPE is supported");
        Map<String, Object> p = object(pre, file, "pre_tokenizer");
        if (!"ByteLevel".equals(p.get("type")))
            throw new TokenizerFormatException(file, "pre_tokenizer type is " + p.get("type") + ", only ByteLevel is supported");
        if (Boolean.FALSE.equals(p.get("use_regex")))
            throw new TokenizerFormatException(file, "ByteLevel pre_tokenizer without GPT-2's regex is not supported");
        return Boolean.TRUE.equals(p.get("add_prefix_space"));
    }

    private static String[] mergePair(Object m, Path file) throws TokenizerFormatException {
        if (m instanceof String s) { // older files: "left right"
            String[] parts = s.split(" ", -1);
            if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty())
                throw new TokenizerFormatException(file, "merge '" + s + "' is not two tokens separated by one space");
            return parts;
        }
        if (m instanceof List<?> l && l.size() == 2 && l.get(0) instanceof String a && l.get(1) instanceof String b)
            return new String[] {a, b}; // newer files: ["left", "right"]
        throw new TokenizerFormatException(file, "merge " + Json.write(m) + " is neither \"a b\" nor [\"a\", \"b\"]");
    }

    // ---- GPT-2's vocab.json + merges.txt -------------------------------------------------------------

    /** Loads GPT-2's original files; {@code <|endoftext|>}, when in the vocabulary, is marked special. */
    public static Tokenizer loadGpt2(Path vocabJson, Path mergesTxt) throws IOException {
        Map<String, Object> vocab;
        try {
            vocab = Json.parseObject(Files.readString(vocabJson, StandardCharsets.UTF_8));
        } catch (Json.JsonException e) {
            throw new TokenizerFormatException(vocabJson, e.getMessage(), e);
        }
        Map<Integer, String> byId = new java.util.HashMap<>();
        for (Map.Entry<String, Object> e : vocab.entrySet()) putId(byId, e.getKey(), e.getValue(), vocabJson, "vocabulary");
        List<String[]> merges = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(mergesTxt, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank() || (lineNo == 1 && line.startsWith("#version"))) continue;
                String[] parts = line.split(" ", -1);
                if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty())
                    throw new TokenizerFormatException(mergesTxt, "line " + lineNo + " ('" + line + "') is not two tokens separated by one space");
                merges.add(parts);
            }
        }
        Set<Integer> specials = new HashSet<>();
        for (Map.Entry<Integer, String> e : byId.entrySet())
            if (e.getValue().equals(Tokenizer.END_OF_TEXT)) specials.add(e.getKey());
        return build(byId, specials, merges, false, vocabJson);
    }

    // ---- shared --------------------------------------------------------------------------------------

    private static Tokenizer build(Map<Integer, String> byId, Set<Integer> specials, List<String[]> merges,
                                   boolean prefixSpace, Path file) throws TokenizerFormatException {
        int size = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        if (size > byId.size()) {   // a gap: found before allocating, since a hostile id would ask for a huge array
            int missing = 0;
            while (byId.containsKey(missing)) missing++;
            throw new TokenizerFormatException(file, "no token has id " + missing + " (ids must be dense, 0.." + (size - 1) + ")");
        }
        String[] vocab = new String[size];
        byId.forEach((id, t) -> vocab[id] = t);
        for (int id = 0; id < size; id++)
            if (vocab[id] == null) throw new TokenizerFormatException(file, "no token has id " + id + " (ids must be dense, 0.." + (size - 1) + ")");
        try {
            return new Tokenizer(Arrays.asList(vocab), specials, merges, prefixSpace);
        } catch (IllegalArgumentException e) {
            throw new TokenizerFormatException(file, e.getMessage(), e);
        }
    }

    private static void putId(Map<Integer, String> byId, String token, Object idValue, Path file, String where)
            throws TokenizerFormatException {
        int id = idOf(idValue, file, where);
        String old = byId.putIfAbsent(id, token);
        if (old != null && !old.equals(token))
            throw new TokenizerFormatException(file, where + ": id " + id + " is given to both '" + old + "' and '" + token + "'");
    }

    private static int idOf(Object v, Path file, String where) throws TokenizerFormatException {
        if (v instanceof Long l && l >= 0 && l < Integer.MAX_VALUE) return (int) (long) l;
        throw new TokenizerFormatException(file, where + ": id " + v + " is not a non-negative integer");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object o, Path file, String what) throws TokenizerFormatException {
        if (o instanceof Map<?, ?> m) return (Map<String, Object>) m;
        throw new TokenizerFormatException(file, what + " is missing or not a JSON object");
    }

    static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
