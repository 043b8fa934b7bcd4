package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import tern.model.InferenceModel;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.LinearPolicy;
import tern.model.TernaryCodes;
import tern.model.TokenizerFiles;
import tern.train.GgufImport;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.train.TrainCheckpoint;

/** {@code tern pack}: a TriLM checkpoint → one memory-mappable inference file (ternary weights at 16/9 bits each). */
final class PackCommand {
    private PackCommand() {}

    static final String USAGE = """
            usage: tern pack --ckpt DIR --out FILE [--floats f16|f32]
                   tern pack --from FILE.gguf --out FILE [--floats f16|f32]
              --ckpt DIR      a checkpoint folder (config.json, model.safetensors, tokenizer.json), or a run folder (its latest complete checkpoint);
                              a Hugging Face Llama folder whose block linears are stored as ±γ/0 (Spectra's releases) is recognized as ternary
              --from FILE     a llama-architecture GGUF file whose block linears are ternary (TQ1_0, TQ2_0, or ±γ/0 in F16/BF16/F32)
              --out FILE      the packed model to write (atomically), e.g. model.tern
              --floats T      storage of the embedding and LM head: f16 (half the bytes, as Spectra ships them) or f32 (bit-exact)   [f16]""";

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("pack", argv, Set.of("ckpt", "from", "out", "floats"), Set.of());
        Path out = Path.of(args.required("out"));
        PackedFloatMatvec.Format floats = switch (args.string("floats", "f16")) {
            case "f16" -> PackedFloatMatvec.Format.F16;
            case "f32" -> PackedFloatMatvec.Format.F32;
            default -> throw new UsageException("--floats must be f16 or f32, got " + args.string("floats", ""));
        };
        if (args.has("ckpt") == args.has("from")) throw new UsageException("give one of --ckpt DIR and --from FILE.gguf");
        long t0 = System.nanoTime();
        Path source;
        String tokenizerJson;
        if (args.has("from")) {
            source = Path.of(args.required("from"));
            if (!Files.isRegularFile(source)) throw new UsageException("--from " + source + ": no such file");
            GgufImport.Loaded loaded = GgufImport.load(source, new CpuBackend());
            tokenizerJson = TokenizerFiles.toJson(loaded.tokenizer());
            try (LlamaModel model = loaded.model()) {
                pack(model, source, tokenizerJson, floats, out);
            }
        } else {
            Path dir = Path.of(args.required("ckpt"));
            if (!Files.isDirectory(dir)) throw new UsageException("--ckpt " + dir + ": no such folder");
            source = TrainCheckpoint.modelFolder(dir);
            Path tokenizer = source.resolve(TrainCheckpoint.TOKENIZER);
            tokenizerJson = Files.isRegularFile(tokenizer) ? Files.readString(tokenizer) : null;
            try (LlamaModel model = TrainCheckpoint.loadModel(source, new CpuBackend())) {
                pack(model, source, tokenizerJson, floats, out);
            }
        }
        try (InferenceModel check = InferenceModel.load(out)) {      // what was written reads back, checksums and all
            System.out.printf(Locale.ROOT, "packed %s → %s: %.1f MiB (%.1f MiB read per token), %s, %s floats, %.1f s%s%n",
                    source, out, Files.size(out) / 1048576.0, check.bytesPerToken() / 1048576.0, check.config().describe(),
                    floats.name().toLowerCase(Locale.ROOT), (System.nanoTime() - t0) / 1e9,
                    tokenizerJson == null ? " (no tokenizer.json beside the checkpoint: generate --model needs one)" : "");
        }
        return 0;
    }

    /**
     * A TriLM packs its latent weights through Tern's quantizer; a float model (a Hugging Face or GGUF file)
     * packs when every block linear already is ±γ/0 per shard, with those exact trits and scales.
     */
    private static void pack(LlamaModel model, Path source, String tokenizerJson, PackedFloatMatvec.Format floats, Path out) {
        TernaryCodes.ModelCodes codes = null;
        if (model.precision().weights() instanceof LinearPolicy.Float) {
            codes = TernaryCodes.recognize(model);
            if (!codes.ternary()) throw new UsageException(source + ": not a ternary model: " + codes.refusal());
            System.out.println("recognized ternary block linears (±γ/0, " + codes.shards() + " scale" + (codes.shards() == 1 ? "" : "s") + " per matrix)");
        }
        try {
            PackedModelWriter.write(model, codes, tokenizerJson, floats, out);
        } catch (IllegalArgumentException e) {
            throw new UsageException(source + ": " + e.getMessage());
        }
    }
}
