package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import tern.checkpoint.GgufFile;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.PackedMatmul;

/** {@code tern generate --model FILE}: continue a prompt with a packed model, streaming tokens as they come. */
final class PackedGenerateCommand {
    private PackedGenerateCommand() {}

    static final String USAGE = """
            usage: tern generate --model FILE --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--activations float|int8] [--device cpu|cuda]
              --model FILE     a packed model (tern pack), or a llama-architecture GGUF file (run as a float model)
              --device D       cpu: the t9 codes read in place; cuda: repacked onto the GPU, decoded by its packed GEMV   [cpu]
              --activations A  float: as trained; int8: absmax int8 activations, integer sums (BitNet b1.58 style)   [float]
              (other flags as for tern generate --ckpt)""";

    static int run(String[] argv) throws java.io.IOException {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("generate", argv,
                Set.of("model", "prompt", "max-tokens", "temperature", "top-k", "top-p", "seed", "activations", "device"), Set.of());
        Path file = Path.of(args.required("model"));
        String prompt = args.required("prompt");
        int maxTokens = GenerateCommand.maxTokens(args);
        PackedMatmul.Activations activations = activations(args);
        SamplingOptions options = GenerateCommand.samplingOptions(args);
        if (!Files.isRegularFile(file)) throw new UsageException("--model " + file + ": no such file");
        if (GgufFile.looksLikeGguf(file)) return generateGguf(file, prompt, maxTokens, options, args.string("device", "cpu"));
        long t0 = System.nanoTime();
        try (tern.runtime.Backend backend = Devices.open(args.string("device", "cpu")); TernModel m = load(file, backend, activations)) {
            double loadSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.print(prompt);
            System.out.flush();
            TernModel.Result r;
            try {
                r = m.generate(prompt, options, maxTokens, s -> { System.out.print(s); System.out.flush(); });
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            System.out.println();
            System.err.printf(Locale.ROOT, "%d tokens in %.2f s: %.1f tokens/s; load %.2f s, time to first token %.3f s, then %.1f tokens/s"
                            + " (%s, prompt %d tokens, %s activations, %s kernels)%n",
                    r.newTokens(), r.seconds(), r.tokensPerSecond(), loadSeconds, r.firstTokenSeconds(), r.decodeTokensPerSecond(),
                    file, r.promptTokens(), activations.name().toLowerCase(Locale.ROOT),
                    backend.device() == tern.runtime.Device.CPU ? PackedMatmul.path() : backend.name());
        }
        return 0;
    }

    /** The model with its activation type set before its weights load (the int8 kernels' copy is made at load). */
    private static TernModel load(Path file, tern.runtime.Backend backend, PackedMatmul.Activations activations) throws java.io.IOException {
        try {
            tern.model.InferenceModel.requireActivations(backend, activations);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--activations: " + e.getMessage());
        }
        return TernModel.load(file, backend, activations);
    }

    /** A GGUF model runs as a float LlamaModel (ternary tensors as γ·T), as tern generate --ckpt runs a checkpoint. */
    private static int generateGguf(Path file, String prompt, int maxTokens, SamplingOptions options, String device) throws java.io.IOException {
        try (tern.runtime.Backend backend = Devices.open(device); ModelSource src = ModelSource.open(null, file, backend)) {
            tern.train.StreamingText.Stats s;
            try {
                s = tern.train.StreamingText.generate(src.model(), src.tokenizer(), prompt, maxTokens, options, System.out);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            System.err.printf(Locale.ROOT, "%d tokens in %.2f s: %.1f tokens/s (%s, prompt %d tokens)%n",
                    s.newTokens(), s.seconds(), s.tokensPerSecond(), file, s.promptTokens());
        }
        return 0;
    }

    /** --activations float|int8 (shared with tern serve). */
    static PackedMatmul.Activations activations(Args args) {
        return switch (args.string("activations", "float")) {
            case "float" -> PackedMatmul.Activations.FLOAT;
            case "int8" -> PackedMatmul.Activations.INT8;
            default -> throw new UsageException("--activations must be float or int8, got " + args.string("activations", ""));
        };
    }
}
