package tern.cli;

import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.simd.CpuBackend;
import tern.train.HfExport;
import tern.train.OutputPaths;
import tern.train.TrainCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code tern export}: a checkpoint as a plain Hugging Face Llama folder holding the weights its policy uses. */
final class ExportCommand {
    private ExportCommand() {}

    static final String USAGE = """
            usage: tern export --ckpt DIR --out DIR [--dtype f16|bf16|f32] [--force]
                   tern export --format gguf ...   (a GGUF file for llama.cpp: tern export --format gguf --help)
              --ckpt DIR    a checkpoint folder or a run folder (its latest checkpoint)
              --out DIR     the Hugging Face folder to write (model.safetensors, config.json, tokenizer.json)
              --dtype T     storage of the weights; f16 as Spectra's releases                      [f16]
              --force       write into a non-empty --out folder (its three files are replaced). Never allowed,
                            --force or not: an --out that is, holds or lies inside a checkpoint, a run or --ckpt
            A TriLM's block linears are written as γ·T (±γ and 0), a BiLM's as α·sign W: transformers'
            LlamaForCausalLM then computes what Tern computes. Training checkpoints keep the float latent
            weights instead (exact resumption needs them).""";

    static int run(String[] argv) throws Exception {
        if (isGguf(argv)) return GgufExportCommand.run(argv);
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("export", argv, Set.of("ckpt", "out", "dtype", "format"), Set.of("force"));
        Path dir = Path.of(args.required("ckpt"));
        Path out = Path.of(args.required("out"));
        DType dtype = switch (args.string("dtype", "f16").toLowerCase(Locale.ROOT)) {
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new UsageException("--dtype must be f16, bf16 or f32, got '" + args.string("dtype", "") + "'");
        };
        if (!Files.isDirectory(dir)) throw new UsageException("--ckpt " + dir + ": no such folder");
        Path folder = TrainCheckpoint.modelFolder(dir);
        try {
            OutputPaths.check(out, OutputPaths.Kind.FOLDER, args.has("force"), "--out", dir, folder);
        } catch (OutputPaths.Refused e) {
            throw new UsageException(e.getMessage());
        }
        try (Backend backend = new CpuBackend(); LlamaModel model = TrainCheckpoint.loadModel(folder, backend)) {
            HfExport.write(model, out, dtype, folder.resolve(TrainCheckpoint.TOKENIZER));
            System.out.println("exported " + folder + " (" + model.precision().weights() + ") to " + out + " as " + dtype);
        }
        return 0;
    }

    /** --format gguf picks the GGUF writer (GgufExportCommand); --format hf or none, the Hugging Face folder. */
    private static boolean isGguf(String[] argv) {
        for (int i = 0; i < argv.length; i++) {
            String v = argv[i].equals("--format") && i + 1 < argv.length ? argv[i + 1] : argv[i].startsWith("--format=") ? argv[i].substring(9) : null;
            if (v == null) continue;
            if (v.equals("gguf")) return true;
            if (!v.equals("hf")) throw new UsageException("--format must be hf or gguf, got '" + v + "'");
        }
        return false;
    }
}
