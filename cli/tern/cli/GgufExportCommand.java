package tern.cli;

import tern.checkpoint.GgufType;
import tern.model.LlamaModel;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Backend;
import tern.simd.CpuBackend;
import tern.train.GgufExport;
import tern.train.TrainCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code tern export --format gguf}: a checkpoint as one GGUF file for llama.cpp and the tools built on it. */
final class GgufExportCommand {
    private GgufExportCommand() {}

    static final String USAGE = """
            usage: tern export --format gguf --ckpt DIR --out FILE.gguf [--type tq2_0|tq1_0|f16] [--embed-type f16|q8_0|f32] [--force]
              --ckpt DIR         a checkpoint folder or a run folder (its latest checkpoint); a Hugging Face folder of ±γ/0 weights works too
              --out FILE.gguf    the GGUF file to write (atomically)
              --type T           block linears: tq2_0 (2.06 bits/weight, llama.cpp's fastest ternary), tq1_0 (1.69), f16     [tq2_0]
              --embed-type T     embedding and LM head                                                                         [f16]
              --force            replace an existing file (never a checkpoint or anything inside a run)
            The file is llama.cpp's "llama" architecture: TQ blocks hold a TriLM's trits with its γ as the fp16 scale of
            every 256-weight block; q/k rows are reordered into llama.cpp's rotary order; the tokenizer is GPT-2 BPE with
            <|endoftext|> as BOS and EOS. A matrix whose rows are not whole 256-weight blocks is written as f16 (said below).""";

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("export", argv, Set.of("format", "ckpt", "out", "type", "embed-type"), Set.of("force"));
        Path dir = Path.of(args.required("ckpt"));
        Path out = Path.of(args.required("out"));
        GgufType linear = type("--type", args.string("type", "tq2_0"), Set.of(GgufType.TQ2_0, GgufType.TQ1_0, GgufType.F16));
        GgufType floats = type("--embed-type", args.string("embed-type", "f16"), Set.of(GgufType.F16, GgufType.Q8_0, GgufType.F32));
        if (!Files.isDirectory(dir)) throw new UsageException("--ckpt " + dir + ": no such folder");
        if (Files.isDirectory(out)) throw new UsageException("--out " + out + " is a folder; give the .gguf file to write");
        Path folder = TrainCheckpoint.modelFolder(dir);
        try {       // the same refusals as the Hugging Face export: never into training work or over its input
            tern.train.OutputPaths.check(out, tern.train.OutputPaths.Kind.FILE, args.has("force"), "--out", dir, folder);
        } catch (tern.train.OutputPaths.Refused e) {
            throw new UsageException(e.getMessage());
        }
        Path tokenizerFile = folder.resolve(TrainCheckpoint.TOKENIZER);
        if (!Files.isRegularFile(tokenizerFile))
            throw new UsageException(tokenizerFile + ": missing (a GGUF file carries its tokenizer; export a checkpoint that has one)");
        Tokenizer tokenizer = TokenizerFiles.load(tokenizerFile);
        try (Backend backend = new CpuBackend(); LlamaModel model = TrainCheckpoint.loadModel(folder, backend)) {
            List<String> notes;
            try {
                notes = GgufExport.write(model, tokenizer, linear, floats, folder.toAbsolutePath().getFileName().toString(), out);
            } catch (IllegalArgumentException e) {
                throw new UsageException(folder + ": " + e.getMessage());
            }
            for (String n : notes) System.out.println("note: " + n);
            System.out.printf(Locale.ROOT, "exported %s (%s) to %s: %.2f MiB, block linears %s, embedding and head %s%n",
                    folder, model.precision().weights().label(), out, Files.size(out) / 1048576.0, linear.label(), floats.label());
        }
        return 0;
    }

    private static GgufType type(String flag, String value, Set<GgufType> allowed) {
        for (GgufType t : allowed) if (t.label().equals(value.toLowerCase(Locale.ROOT))) return t;
        throw new UsageException(flag + " must be one of " + allowed.stream().map(GgufType::label).sorted().toList() + ", got '" + value + "'");
    }
}
