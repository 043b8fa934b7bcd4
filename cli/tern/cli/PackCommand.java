package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import tern.model.InferenceModel;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.train.TrainCheckpoint;

/** {@code tern pack}: a TriLM checkpoint → one memory-mappable inference file (ternary weights at 16/9 bits each). */
final class PackCommand {
    private PackCommand() {}

    static final String USAGE = """
            usage: tern pack --ckpt DIR --out FILE [--floats f16|f32]
              --ckpt DIR      a checkpoint folder (config.json, model.safetensors, tokenizer.json), or a run folder (its latest complete checkpoint)
              --out FILE      the packed model to write (atomically), e.g. model.tern
              --floats T      storage of the embedding and LM head: f16 (half the bytes, as Spectra ships them) or f32 (bit-exact)   [f16]""";

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("pack", argv, Set.of("ckpt", "out", "floats"), Set.of());
        Path dir = Path.of(args.required("ckpt")), out = Path.of(args.required("out"));
        PackedFloatMatvec.Format floats = switch (args.string("floats", "f16")) {
            case "f16" -> PackedFloatMatvec.Format.F16;
            case "f32" -> PackedFloatMatvec.Format.F32;
            default -> throw new UsageException("--floats must be f16 or f32, got " + args.string("floats", ""));
        };
        if (!Files.isDirectory(dir)) throw new UsageException("--ckpt " + dir + ": no such folder");
        Path folder = TrainCheckpoint.modelFolder(dir);
        Path tokenizer = folder.resolve(TrainCheckpoint.TOKENIZER);
        String tokenizerJson = Files.isRegularFile(tokenizer) ? Files.readString(tokenizer) : null;
        long t0 = System.nanoTime();
        try (LlamaModel model = TrainCheckpoint.loadModel(folder, new CpuBackend())) {
            try {
                PackedModelWriter.write(model, tokenizerJson, floats, out);
            } catch (IllegalArgumentException e) {
                throw new UsageException(folder + ": " + e.getMessage());
            }
        }
        try (InferenceModel check = InferenceModel.load(out)) {      // what was written reads back, checksums and all
            System.out.printf(Locale.ROOT, "packed %s → %s: %.1f MiB (%.1f MiB read per token), %s, %s floats, %.1f s%s%n",
                    folder, out, Files.size(out) / 1048576.0, check.bytesPerToken() / 1048576.0, check.config().describe(),
                    floats.name().toLowerCase(Locale.ROOT), (System.nanoTime() - t0) / 1e9,
                    tokenizerJson == null ? " (no tokenizer.json beside the checkpoint: generate --model needs one)" : "");
        }
        return 0;
    }
}
