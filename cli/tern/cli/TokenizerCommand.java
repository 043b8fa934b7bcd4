package tern.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import tern.model.BpeTrainer;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.train.Prepare;

/**
 * {@code tern tokenizer train --input FILE... --vocab N --out tokenizer.json}: learns a byte-level BPE
 * vocabulary from text files and writes it as a Hugging Face tokenizer.json;
 * {@code tern tokenizer encode --tokenizer tokenizer.json --text TEXT}: prints the ids of a text.
 */
final class TokenizerCommand {
    private static final String TRAIN_USAGE = """
            usage: tern tokenizer train --input FILE_OR_DIR... --vocab N --out tokenizer.json
              counts words over the files (streamed), learns N-257 merges at most, and writes a
              Hugging Face tokenizer.json (byte-level BPE, <|endoftext|> as the last id)""";
    private static final String ENCODE_USAGE = """
            usage: tern tokenizer encode --tokenizer tokenizer.json --text TEXT
              prints the token ids of TEXT, one line, and their decoding""";
    private static final String USAGE = TRAIN_USAGE + "\n" + ENCODE_USAGE;

    private TokenizerCommand() {}

    static int run(String[] args) throws Exception {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("help")) {
            System.out.println(USAGE);
            return 0;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        if (List.of(rest).contains("--help")) {
            System.out.println(switch (args[0]) {
                case "train" -> TRAIN_USAGE;
                case "encode" -> ENCODE_USAGE;
                default -> USAGE;
            });
            return 0;
        }
        return switch (args[0]) {
            case "train" -> train(rest);
            case "encode" -> encode(rest);
            default -> throw new UsageException("unknown sub-command '" + args[0] + "' (train or encode)");
        };
    }

    private static int train(String[] args) throws Exception {
        List<Path> inputs = new ArrayList<>();
        Args a = Args.parse("tokenizer train", takeMany(args, "input", inputs), Set.of("vocab", "out"), Set.of());
        if (inputs.isEmpty()) throw new UsageException("--input needs at least one file or directory");
        int vocab = a.intValue("vocab", 0);
        if (vocab < 257) throw new UsageException("--vocab must be at least 257 (256 bytes + <|endoftext|>), got " + vocab);
        Path out = Path.of(a.required("out"));
        long t0 = System.nanoTime();
        Tokenizer t = BpeTrainer.train(Prepare.expand(inputs), vocab, System.err::println);
        TokenizerFiles.save(t, out);
        System.out.printf("wrote %s: %,d ids (%,d merges) in %.1f s%n", out, t.vocabSize(), t.merges().size(), (System.nanoTime() - t0) / 1e9);
        if (t.vocabSize() < vocab) System.out.println("note: the corpus ran out of pairs before reaching " + vocab + " ids");
        return 0;
    }

    private static int encode(String[] args) throws Exception {
        Args a = Args.parse("tokenizer encode", args, Set.of("tokenizer", "text"), Set.of());
        Tokenizer t = TokenizerFiles.load(Path.of(a.required("tokenizer")));
        int[] ids = t.encode(a.required("text"));
        System.out.println(Arrays.toString(ids));
        System.out.println(t.decode(ids));
        return 0;
    }

    /**
     * Pulls {@code --name v1 v2 ...} (every word up to the next flag) out of {@code args} into
     * {@code values}, since {@link Args} takes one value per flag; returns the other arguments.
     */
    static String[] takeMany(String[] args, String name, List<Path> values) {
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].equals("--" + name)) { rest.add(args[i]); continue; }
            int before = values.size();
            while (i + 1 < args.length && !args[i + 1].startsWith("--")) values.add(Path.of(args[++i]));
            if (values.size() == before) throw new UsageException("--" + name + " needs at least one value");
        }
        return rest.toArray(new String[0]);
    }
}
