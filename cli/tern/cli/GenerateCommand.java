package tern.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import tern.model.LlamaModel;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Backend;
import tern.train.StreamingText;
import tern.train.TrainCheckpoint;

/** {@code tern generate}: continue a prompt with a checkpoint's model, streaming tokens as they come. */
final class GenerateCommand {
    private GenerateCommand() {}

    static final String USAGE = """
            usage: tern generate --ckpt DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
              --ckpt DIR       a checkpoint folder (config.json, model.safetensors, tokenizer.json) or a run folder (its latest)
              --prompt TEXT    the text to continue
              --max-tokens N   new tokens at most (fewer when the context is full)      [100]
              --temperature T  0 = greedy                                               [0.8]
              --top-k K        keep the K likeliest tokens, 0 = all                     [40]
              --top-p P        nucleus sampling mass in (0, 1]                          [0.95]
              --seed S         sampling seed                                            [0]
              --device cpu|cuda  the backend                                            [cpu]
              --compute bf16|f32 CUDA's number type for products and attention  [bf16 on sm_80+, else f32]""";

    static int run(String[] argv) throws IOException {
        if (java.util.Arrays.stream(argv).anyMatch(a -> a.equals("--model") || a.startsWith("--model="))) return PackedGenerateCommand.run(argv);
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("generate", argv,
                Set.of("ckpt", "prompt", "max-tokens", "temperature", "top-k", "top-p", "seed", "device", "compute"), Set.of());
        Path dir = Path.of(args.required("ckpt"));
        String prompt = args.required("prompt");
        int maxTokens = maxTokens(args);
        SamplingOptions options = samplingOptions(args);
        if (!Files.isDirectory(dir)) throw new UsageException("--ckpt " + dir + ": no such folder");
        Path folder = TrainCheckpoint.modelFolder(dir);
        Path tokenizerFile = folder.resolve(TrainCheckpoint.TOKENIZER);
        if (!Files.isRegularFile(tokenizerFile))
            throw new IOException(tokenizerFile + ": missing (the checkpoint needs its tokenizer.json to read and write text)");
        Tokenizer tokenizer = TokenizerFiles.load(tokenizerFile);
        try (Backend backend = Devices.open(args); LlamaModel model = TrainCheckpoint.loadModel(folder, backend)) {
            if (tokenizer.vocabSize() > model.config().vocabSize())
                throw new IOException(tokenizerFile + ": " + tokenizer.vocabSize() + " tokens, more than the model's vocabulary of " + model.config().vocabSize());
            StreamingText.Stats s;
            try {
                s = StreamingText.generate(model, tokenizer, prompt, maxTokens, options, System.out);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            System.err.printf(Locale.ROOT, "%d tokens in %.2f s: %.1f tokens/s (%s, prompt %d tokens)%n",
                    s.newTokens(), s.seconds(), s.tokensPerSecond(), folder, s.promptTokens());
        }
        return 0;
    }

    /** --max-tokens, at least 1 (shared with the packed-model path). */
    static int maxTokens(Args args) {
        int maxTokens = args.intValue("max-tokens", 100);
        if (maxTokens < 1) throw new UsageException("--max-tokens must be at least 1, got " + maxTokens);
        return maxTokens;
    }

    /** --temperature, --top-k, --top-p, --seed as sampling options (shared with the packed-model path). */
    static SamplingOptions samplingOptions(Args args) {
        try {
            return SamplingOptions.sample((float) args.doubleValue("temperature", 0.8), args.intValue("top-k", 40),
                    (float) args.doubleValue("top-p", 0.95), args.longValue("seed", 0));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
