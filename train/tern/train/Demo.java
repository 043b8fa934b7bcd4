package tern.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import tern.checkpoint.Json;
import tern.model.BpeTrainer;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Backend;

/**
 * {@code tern demo} end to end, with nothing but the jar: generate the embedded grammar corpus, train a
 * small byte-level BPE tokenizer on it, write token shards, train a tiny TriLM (by default) with the
 * progress line, save a checkpoint, compare the ternary model's size in bits with a FloatLM of the same
 * shape, and continue a prompt with the trained model.
 *
 * <p>The corpus, tokenizer and shards are kept in {@code OUT/data} and reused when they were made with
 * the same settings (a second demo starts training at once); the run itself goes to {@code OUT/run}.
 */
public final class Demo {
    private Demo() {}

    /**
     * @param corpusBytes size of the generated corpus
     * @param vocab       BPE vocabulary (256 bytes + merges + end-of-text)
     */
    public record Options(long steps, Path out, String precision, String preset, long corpusBytes, int vocab,
                          String prompt, int sampleTokens, long seed, Map<String, Object> trainSettings) {
        /** The demo as {@code ./tern demo} runs it. */
        public static Options defaults() {
            return new Options(DEFAULT_STEPS, Path.of("runs", "demo"), "ternary", "tiny", 4_000_000, 768,
                    "The little dog", 60, 7, Map.of());
        }

        public Options withSteps(long s) { return new Options(s, out, precision, preset, corpusBytes, vocab, prompt, sampleTokens, seed, trainSettings); }
        public Options withOut(Path o) { return new Options(steps, o, precision, preset, corpusBytes, vocab, prompt, sampleTokens, seed, trainSettings); }
        public Options withPrecision(String p) { return new Options(steps, out, p, preset, corpusBytes, vocab, prompt, sampleTokens, seed, trainSettings); }
        public Options withCorpusBytes(long b) { return new Options(steps, out, precision, preset, b, vocab, prompt, sampleTokens, seed, trainSettings); }
        public Options withPrompt(String p) { return new Options(steps, out, precision, preset, corpusBytes, vocab, p, sampleTokens, seed, trainSettings); }
        public Options withTrainSettings(Map<String, Object> s) { return new Options(steps, out, precision, preset, corpusBytes, vocab, prompt, sampleTokens, seed, s); }
    }

    /** Steps of the default demo: about three minutes of the tiny preset on two cores. */
    public static final long DEFAULT_STEPS = 1200;

    /** What the demo made. */
    public record Outcome(Path checkpoint, double validationLoss, double modelBits, double floatBits, StreamingText.Stats sample) {}

    public static Outcome run(Options o, Backend backend, PrintStream out, TrainerStop stop) throws IOException {
        long t0 = System.nanoTime();
        Path data = o.out().resolve("data");
        prepareData(o, data, out);
        out.printf(Locale.ROOT, "data ready in %.1f s%n", (System.nanoTime() - t0) / 1e9);

        Path runDir = o.out().resolve("run");
        deleteTree(runDir);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("preset", o.preset());
        settings.put("precision", o.precision());
        settings.put("data", data.toString());
        settings.put("out", runDir.toString());
        settings.put("steps", o.steps());
        settings.put("seed", o.seed());
        settings.put("eval_every", (int) Math.max(1, o.steps() / 5));
        settings.put("save_every", 0);
        settings.put("keep", 1);
        settings.putAll(o.trainSettings());
        TrainConfig config = TrainConfig.resolve(settings);
        try (TrainRun run = TrainRun.start(config, backend)) {
            LlamaConfig shape = run.model().config();
            out.println("model: " + shape.describe());
            out.printf(Locale.ROOT, "training %d steps of %d×%d tokens (%s schedule, peak lr %.1e) on %s%n",
                    config.steps(), config.batch(), config.seq(), config.schedule(), config.lr(),
                    backend.device() == tern.runtime.Device.CPU ? tern.simd.Parallel.THREADS + " threads" : backend.name());
            Progress progress = new Progress(out, 0, config.steps(), out == System.out && System.console() != null, System::nanoTime);
            Trainer.Result result = run.run(config.steps(), progress, stop);
            progress.finish();
            if (result.stopped()) out.println("stopped at step " + result.step());
            out.println("checkpoint: " + result.lastCheckpoint());

            double bits = shape.modelBits();
            double floatBits = shape.modelBits(LinearPolicy.FLOAT, false);
            out.printf(Locale.ROOT, "model size: %s (%s) as a %s model; a FloatLM of the same shape: %s (%s), %.1f× larger%n",
                    megabits(bits), kilobytes(bits), shape.precision().weights().label(), megabits(floatBits), kilobytes(floatBits), floatBits / bits);
            out.printf(Locale.ROOT, "  (the embedding and LM head stay 16-bit: %.0f%% of the %s model's bits)%n",
                    100.0 * 16 * shape.embeddingParameters() / bits, shape.precision().weights().label());

            StreamingText.Stats sample = null;
            if (result.lastCheckpoint() != null) sample = sample(result.lastCheckpoint(), o, backend, out);
            return new Outcome(result.lastCheckpoint(), result.lastValidationLoss(), bits, floatBits, sample);
        }
    }

    /** Reloads the saved checkpoint (so the sample shows what was saved) and continues the prompt. */
    private static StreamingText.Stats sample(Path checkpoint, Options o, Backend backend, PrintStream out) throws IOException {
        Tokenizer tokenizer = TokenizerFiles.load(checkpoint.resolve(TrainCheckpoint.TOKENIZER));
        try (LlamaModel model = TrainCheckpoint.loadModel(checkpoint, backend)) {
            out.println("sample (temperature 0.7, top-k 20):");
            out.print("  ");
            StreamingText.Stats s = StreamingText.generate(model, tokenizer, o.prompt(), o.sampleTokens(),
                    SamplingOptions.sample(0.7f, 20, 1f, o.seed()), out);
            out.printf(Locale.ROOT, "%d tokens at %.1f tokens/s%n", s.newTokens(), s.tokensPerSecond());
            return s;
        }
    }

    /** Corpus → tokenizer.json → shards in {@code data}, unless a previous demo left the same ones there. */
    static void prepareData(Options o, Path data, PrintStream out) throws IOException {
        Map<String, Object> recipe = new LinkedHashMap<>();
        recipe.put("corpus", "GrammarCorpus");
        recipe.put("seed", o.seed());
        recipe.put("bytes", o.corpusBytes());
        recipe.put("vocab", o.vocab());
        Path marker = data.resolve("demo_data.json");
        if (Files.isRegularFile(marker) && Files.isRegularFile(data.resolve(TrainCheckpoint.TOKENIZER))) {
            try {
                if (Json.parseObject(Files.readString(marker)).equals(Json.parseObject(Json.write(recipe)))) {
                    out.println("reusing the corpus, tokenizer and shards in " + data);
                    return;
                }
            } catch (Json.JsonException e) {
                // a damaged marker: make the data again
            }
        }
        deleteTree(data);
        Files.createDirectories(data);
        long t = System.nanoTime();
        String corpus = GrammarCorpus.generate(o.seed(), o.corpusBytes());
        out.printf(Locale.ROOT, "generated the grammar corpus: %.1f MB in %.1f s%n", corpus.length() / 1e6, (System.nanoTime() - t) / 1e9);
        t = System.nanoTime();
        BpeTrainer bpe = new BpeTrainer();
        bpe.addText(corpus);
        Tokenizer tokenizer = bpe.train(o.vocab(), s -> {});
        TokenizerFiles.save(tokenizer, data.resolve(TrainCheckpoint.TOKENIZER));
        out.printf(Locale.ROOT, "trained a byte-level BPE tokenizer: %d tokens in %.1f s%n", tokenizer.vocabSize(), (System.nanoTime() - t) / 1e9);
        t = System.nanoTime();
        Prepare.Summary s = Prepare.fromText(corpus, tokenizer, data, 0.01);
        out.printf(Locale.ROOT, "wrote shards: %,d training and %,d validation tokens in %.1f s%n", s.trainTokens(), s.valTokens(), (System.nanoTime() - t) / 1e9);
        Files.writeString(marker, Json.pretty(recipe));
    }

    private static String megabits(double bits) {
        return bits >= 1e6 ? String.format(Locale.ROOT, "%.2f Mbit", bits / 1e6) : String.format(Locale.ROOT, "%.1f kbit", bits / 1e3);
    }

    private static String kilobytes(double bits) {
        double bytes = bits / 8;
        return bytes >= 1e6 ? String.format(Locale.ROOT, "%.2f MB", bytes / 1e6) : String.format(Locale.ROOT, "%.1f kB", bytes / 1e3);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
