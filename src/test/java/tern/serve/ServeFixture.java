package tern.serve;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import tern.model.BpeTrainer;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.Precision;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;

/**
 * The server tests' model: a random-weight TriLM of the tiny shape (context 128) with a 300-token BPE
 * trained on generated words, packed as {@code tern pack} would. Embedding and head are scaled up so
 * greedy choices are decisive (as in PackedModelTest).
 */
public final class ServeFixture {
    private ServeFixture() {}

    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    public static Path packedModel(Path dir) throws IOException {
        Tokenizer tokenizer = BpeTrainer.train(text(7, 8_000), 300);
        Path tokFile = dir.resolve("tokenizer.json");
        TokenizerFiles.save(tokenizer, tokFile);
        LlamaConfig tiny = LlamaConfig.preset("tiny");
        LlamaConfig config = new LlamaConfig(tokenizer.vocabSize(), tiny.hidden(), tiny.intermediate(), 2, tiny.heads(), 128,
                tiny.rmsEps(), tiny.ropeTheta(), 1, Precision.of(new LinearPolicy.Ternary(1)));
        Path out = dir.resolve("tiny.tern");
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            m.initialize(5);
            for (Parameter p : List.of(m.parameter("model.embed_tokens.weight"), m.parameter("lm_head.weight")))
                m.backend().scale(p.value, 50f);
            PackedModelWriter.write(m, Files.readString(tokFile), PackedFloatMatvec.Format.F32, out);
        }
        return out;
    }

    /** Words of a small made-up language, seeded. */
    public static String text(long seed, int words) {
        String[] vocab = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "ran", "to", "garden", "where", "flowers",
                "grow", "in", "spring", "ka", "ro", "mi", "ten", "ul", "sha", "po", "lin", "dra", "ve", "café", "東京", "😀"};
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            if (i > 0) sb.append(r.nextInt(10) == 0 ? ".\n" : " ");
            sb.append(vocab[r.nextInt(vocab.length)]);
        }
        return sb.toString();
    }
}
