package tern.cli;

import tern.eval.Evaluator;
import tern.eval.Item;
import tern.eval.LlamaLm;
import tern.eval.LogLikelihood;
import tern.eval.ModelScorer;
import tern.eval.PrefixCachedScorer;
import tern.eval.PerplexityResult;
import tern.eval.Report;
import tern.eval.RequestEncoder;
import tern.eval.SlidingWindowPerplexity;
import tern.eval.Task;
import tern.eval.TaskResult;
import tern.eval.Tasks;
import tern.eval.TextEncoder;
import tern.checkpoint.Utf8;
import tern.model.LlamaModel;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Backend;
import tern.train.TrainCheckpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code tern eval}: zero-shot tasks scored like lm-evaluation-harness, and sliding-window perplexity of
 * text files, for a checkpoint folder (Tern's or transformers' LlamaForCausalLM: config.json,
 * model.safetensors, tokenizer.json).
 */
final class EvalCommand {
    private EvalCommand() {}

    static final String USAGE = """
            usage: tern eval --ckpt DIR|--model FILE.gguf [--tasks NAMES --data DIR] [--perplexity FILE...] [options]
              --ckpt DIR          a checkpoint folder (config.json, model.safetensors, tokenizer.json) or a run folder (its latest)
              --model FILE.gguf   a llama-architecture GGUF file (llama.cpp's format; tern export --format gguf writes one)
              --tasks NAMES       comma-separated: lambada,hellaswag,arc_easy,arc_challenge,piqa,sciq,winogrande
              --data DIR          the folder holding the tasks' public files (lambada_test.jsonl, piqa_valid.jsonl, ...)
              --limit N           the first N items of each task only
              --perplexity FILE.. text files to score with a sliding window (UTF-8)
              --context N         the window in tokens                                    [the model's context]
              --stride N          tokens between window ends (≤ context)                  [context / 2]
              --documents D       file: each file is one document; paragraphs: blank-line-separated
                                  paragraphs are separate documents, as tern prepare cuts them  [file]
              --batch-tokens N    padded tokens per forward pass            [4096, fewer for big vocabularies]
              --scorer S          task scoring: batched, or prefix (a shared context runs once, KV-cached) [batched]
              --device cpu|cuda   the backend                                             [cpu]
              --compute bf16|f32  CUDA's number type for products and attention   [bf16 on sm_80+, else f32]
              --json FILE         also write the results as JSON""";

    static int run(String[] argv) throws IOException {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        // --perplexity takes several files: gather the words after it before the flag parser sees them.
        List<String> rest = new ArrayList<>();
        List<Path> texts = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            if (argv[i].equals("--perplexity")) {
                while (i + 1 < argv.length && !argv[i + 1].startsWith("--")) texts.add(Path.of(argv[++i]));
                if (texts.isEmpty()) throw new UsageException("--perplexity needs at least one file");
            } else {
                rest.add(argv[i]);
            }
        }
        Args args = Args.parse("eval", rest.toArray(String[]::new),
                Set.of("ckpt", "model", "tasks", "data", "limit", "context", "stride", "documents", "batch-tokens", "scorer", "device", "json", "compute"), Set.of());
        if (args.has("ckpt") == args.has("model")) throw new UsageException("give one of --ckpt DIR and --model FILE.gguf");
        Path gguf = args.has("model") ? Path.of(args.required("model")) : null;
        Path dir = gguf == null ? Path.of(args.required("ckpt")) : null;
        if (dir != null && !Files.isDirectory(dir)) throw new UsageException("--ckpt " + dir + ": no such folder");
        if (gguf != null && !Files.isRegularFile(gguf)) throw new UsageException("--model " + gguf + ": no such file");
        if (gguf != null && startsWith(gguf, "TERNPACK"))
            throw new UsageException("--model " + gguf + ": a packed Tern file (tern pack); tern eval scores a checkpoint (--ckpt RUN) "
                    + "or a GGUF file (tern export --format gguf --ckpt RUN --out FILE.gguf)");
        List<Task> tasks = List.of();
        if (args.has("tasks")) {
            try {
                tasks = Tasks.parse(args.required("tasks"));
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            if (!args.has("data")) throw new UsageException("--tasks needs --data DIR, the folder of the tasks' files");
        }
        if (tasks.isEmpty() && texts.isEmpty()) throw new UsageException("nothing to do: give --tasks and/or --perplexity");
        int limit = args.intValue("limit", Integer.MAX_VALUE);
        if (limit < 1) throw new UsageException("--limit must be at least 1, got " + limit);
        int batchTokens = args.intValue("batch-tokens", 0);
        if (args.has("batch-tokens") && batchTokens < 1) throw new UsageException("--batch-tokens must be at least 1, got " + batchTokens);
        for (Path t : texts) if (!Files.isRegularFile(t)) throw new UsageException("--perplexity " + t + ": no such file");
        String documents = args.string("documents", "file");
        if (!documents.equals("file") && !documents.equals("paragraphs"))
            throw new UsageException("--documents must be file or paragraphs, got '" + documents + "'");

        // Every task file and text is read and checked before the model loads: bad input fails at once.
        Map<Task, List<Item>> itemsByTask = new LinkedHashMap<>();
        for (Task task : tasks) itemsByTask.put(task, task.load(Path.of(args.required("data"))));
        Map<Path, String> textByFile = new LinkedHashMap<>();
        for (Path t : texts) {
            try {
                textByFile.put(t, Utf8.read(t));
            } catch (Utf8.MalformedText e) {
                throw new UsageException("--perplexity " + e.getMessage() + "; the text must be UTF-8 (convert it first, e.g. iconv -f latin1 -t utf-8)");
            }
        }

        Path folder = gguf != null ? gguf : TrainCheckpoint.modelFolder(dir);
        Path tokenizerFile = folder.resolve(TrainCheckpoint.TOKENIZER);
        if (gguf == null && !Files.isRegularFile(tokenizerFile))
            throw new IOException(tokenizerFile + ": missing (evaluation needs the checkpoint's tokenizer.json)");
        String device = args.string("device", "cpu");
        try (Backend backend = Devices.open(device, args.string("compute", null)); ModelSource src = ModelSource.open(dir, gguf, backend)) {
            LlamaModel model = src.model();
            Tokenizer tokenizer = src.tokenizer();
            TextEncoder encoder = TextEncoder.of(tokenizer);
            LlamaLm lm = new LlamaLm(model);
            // Default: 4096 tokens a pass, but logits of at most 64M floats (256 MB) for big vocabularies;
            // never less than one full window.
            int tokens = batchTokens > 0 ? batchTokens : Math.min(4096, (64 << 20) / lm.vocabSize());
            ModelScorer scorer = new ModelScorer(lm, Math.max(tokens, lm.contextLength()));
            // batched is the default: measured faster on the CPU for the demo and 10M models (EXPERIMENTS.md,
            // Evaluation), where many small cached decodes cost more than the context tokens they save.
            String scorerName = args.string("scorer", "batched");
            if (!scorerName.equals("prefix") && !scorerName.equals("batched"))
                throw new UsageException("--scorer must be prefix or batched, got '" + scorerName + "'");
            // Tasks' choices share their context: the prefix scorer runs it once; perplexity windows share nothing.
            LogLikelihood taskScorer = scorerName.equals("prefix")
                    ? new PrefixCachedScorer(model, Math.max(tokens, lm.contextLength())) : scorer;
            System.err.printf(Locale.ROOT, "model %s: %s; backend %s%n", folder, model.config().describe(), backend.name());

            List<TaskResult> results = new ArrayList<>();
            Evaluator evaluator = new Evaluator(taskScorer, new RequestEncoder(encoder), lm.contextLength());
            for (Task task : tasks) {
                List<Item> all = itemsByTask.get(task);
                List<Item> items = all.size() > limit ? all.subList(0, limit) : all;
                long t0 = System.nanoTime();
                TaskResult r = evaluator.run(task.name(), task.metrics(), items);
                System.err.printf(Locale.ROOT, "%s: evaluated %d of %d items in %.1f s%s%n", task.name(), r.items(), all.size(),
                        (System.nanoTime() - t0) / 1e9,
                        r.truncatedRequests() > 0 ? ", " + r.truncatedRequests() + " requests left-truncated" : "");
                results.add(r);
            }

            List<PerplexityResult> ppl = new ArrayList<>();
            int context = args.intValue("context", lm.contextLength());
            if (!texts.isEmpty() && (context < 1 || context > lm.contextLength()))
                throw new UsageException("--context must be in 1.." + lm.contextLength() + " (the model's context), got " + context);
            int stride = args.intValue("stride", Math.max(1, context / 2));
            for (Path t : texts) {
                long t0 = System.nanoTime();
                String text = textByFile.get(t);
                PerplexityResult p;
                try {
                    List<String> docs = documents.equals("paragraphs") ? SlidingWindowPerplexity.paragraphs(text) : List.of(text);
                    p = SlidingWindowPerplexity.evaluate(t.toString(), docs, encoder, scorer, context, stride);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
                System.err.printf(Locale.ROOT, "%s: %d documents, %d tokens in %d windows (context %d, stride %d) in %.1f s%n",
                        t, p.documents(), p.tokens(), p.windows(), context, stride, (System.nanoTime() - t0) / 1e9);
                ppl.add(p);
            }

            System.out.print(Report.table(results, ppl));
            if (args.has("json")) {
                Map<String, Object> header = new LinkedHashMap<>();
                header.put("checkpoint", folder.toString());
                header.put("model", model.config().describe());
                header.put("limit", limit == Integer.MAX_VALUE ? null : limit);
                header.put("context", context);
                header.put("stride", stride);
                header.put("documents", documents);
                Path out = Path.of(args.required("json"));
                Files.writeString(out, Report.json(header, results, ppl), StandardCharsets.UTF_8);
                System.err.println("wrote " + out);
            }
        }
        return 0;
    }

    /** True when the file's first bytes are {@code magic} (ASCII). */
    private static boolean startsWith(Path file, String magic) throws java.io.IOException {
        byte[] want = magic.getBytes(java.nio.charset.StandardCharsets.US_ASCII), got = new byte[want.length];
        try (java.io.InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(got, 0, got.length) == got.length && java.util.Arrays.equals(got, want);
        }
    }
}
