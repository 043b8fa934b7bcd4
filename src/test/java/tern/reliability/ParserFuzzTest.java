package tern.reliability;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.PropertyDefaults;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import tern.checkpoint.CheckpointManifest;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.Safetensors;
import tern.checkpoint.SafetensorsFile;
import tern.checkpoint.TrainingState;
import tern.eval.ArcTask;
import tern.eval.HellaSwagTask;
import tern.eval.LambadaTask;
import tern.eval.PiqaTask;
import tern.eval.SciqTask;
import tern.eval.Task;
import tern.eval.WinoGrandeTask;
import tern.model.BpeTrainer;
import tern.model.HfConfig;
import tern.model.InferenceModel;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.Precision;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.DType;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.train.GrammarCorpus;
import tern.train.Prepare;
import tern.testing.TinyCheckpoints;
import tern.train.TokenShard;
import tern.train.TokenShardSet;
import tern.train.TrainCheckpoint;

/**
 * Mutation fuzzing of every file parser: valid seed files, damaged by jqwik-generated chains of byte flips,
 * byte sets, truncations, insertions (random bytes, JSON syntax, hostile numbers), deletions, splices,
 * decimal numbers swapped for huge / negative / non-integral ones, and binary header words overwritten,
 * are parsed, and the parser must either accept the input or refuse it with one of Tern's clear errors,
 * within a time limit and without allocating more than the input justifies ({@link FuzzTarget}). For
 * formats with a checksum over the mutated part (token shard payloads, packed-file headers), half the inputs
 * get it recomputed, so the edits reach the checks behind it.
 *
 * <p>CI size: {@value #CI_TRIES} inputs per parser, 12 parsers (about half a minute on 2 cores).
 * {@code -Dtern.fuzz=N} spreads N inputs over the parsers (the nightly size is 100,000).
 */
@PropertyDefaults(tries = ParserFuzzTest.CI_TRIES, afterFailure = net.jqwik.api.AfterFailureMode.RANDOM_SEED)
class ParserFuzzTest {
    static final int CI_TRIES = 400;
    private static final int PARSERS = 12;
    private static final Map<String, FuzzTarget> TARGETS = new LinkedHashMap<>();

    @BeforeContainer
    static void seeds() throws Exception {
        Path dir = Files.createTempDirectory("tern-fuzz");
        TARGETS.put("safetensors", safetensors(dir.resolve("st")));
        TARGETS.put("config.json", configJson(dir.resolve("config")));
        Path tokDir = Files.createDirectories(dir.resolve("tok"));
        Tokenizer tokenizer = BpeTrainer.train(GrammarCorpus.generate(9, 8_000), 300);
        TARGETS.put("tokenizer.json", tokenizerJson(tokDir, tokenizer));
        TARGETS.put("token shard", tokenShard(dir.resolve("shards"), tokenizer));
        TARGETS.put("packed model", packedModel(dir.resolve("packed")));
        TARGETS.put("eval jsonl", evalTasks(dir.resolve("eval")));
        TARGETS.put("manifest.json", manifest(dir.resolve("ckpt")));
        TARGETS.put("training_state", trainingState(dir.resolve("state")));
        TARGETS.put("optimizer state", optimizerLike(dir.resolve("opt")));
        TARGETS.put("gguf", gguf(dir.resolve("gguf"), tokenizer));
        TARGETS.put("meta.json", dataMeta(dir.resolve("data"), tokenizer));
        TARGETS.put("model folder", modelFolder(dir.resolve("model")));
    }

    @AfterContainer
    static void report() {
        System.out.println("parser fuzzing (" + TARGETS.values().stream().mapToLong(t -> t.inputs.get()).sum() + " mutated inputs):");
        for (FuzzTarget t : TARGETS.values()) System.out.println("  " + t.summary());
    }

    @Provide
    Arbitrary<List<Mutation>> chains() { return Mutation.chains(); }

    /**
     * Inputs per jqwik try: 1 in CI; with {@code -Dtern.fuzz=N}, enough that the {@value #CI_TRIES} tries of
     * the {@value #PARSERS} parsers make N (a try's further inputs come from the same jqwik arbitrary,
     * drawn with a generator seeded by the try's {@code random}, so a failure reproduces from the report).
     */
    private static final int PER_TRY = Math.max(1, (Integer.getInteger("tern.fuzz", CI_TRIES * PARSERS) + CI_TRIES * PARSERS - 1) / (CI_TRIES * PARSERS));

    private static void fuzz(String target, int seed, List<Mutation> chain, long random) throws Exception {
        FuzzTarget t = TARGETS.get(target);
        int i = seed % t.seeds.size();
        byte[] input = Mutation.applyAll(chain, t.seeds.get(i).bytes());
        t.fuzz(i, (random & 1) == 0 ? t.fixup.apply(input) : input);
        if (PER_TRY == 1) return;
        net.jqwik.api.RandomGenerator<List<Mutation>> more = Mutation.chains().generator(1000);
        java.util.Random r = new java.util.Random(random);
        for (int k = 1; k < PER_TRY; k++) {
            int j = r.nextInt(t.seeds.size());
            List<Mutation> c = more.next(r).value();
            byte[] in = Mutation.applyAll(c, t.seeds.get(j).bytes());
            try {
                t.fuzz(j, r.nextBoolean() ? t.fixup.apply(in) : in);
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n  seed file " + t.seeds.get(j).label() + ", mutations " + c, e.getCause());
            }
        }
    }

    @Property void safetensors(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("safetensors", seed, m, random); }
    @Property void configJson(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("config.json", seed, m, random); }
    @Property void tokenizerJson(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("tokenizer.json", seed, m, random); }
    @Property void tokenShard(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("token shard", seed, m, random); }
    @Property void packedModel(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("packed model", seed, m, random); }
    @Property void evalJsonl(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("eval jsonl", seed, m, random); }
    @Property void manifestJson(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("manifest.json", seed, m, random); }
    @Property void trainingStateJson(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("training_state", seed, m, random); }
    @Property void gguf(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("gguf", seed, m, random); }
    @Property void dataMetaJson(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("meta.json", seed, m, random); }
    @Property void modelFolderConfig(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("model folder", seed, m, random); }
    @Property void optimizerState(@ForAll("chains") List<Mutation> m, @ForAll @IntRange(max = 99) int seed, @ForAll long random) throws Exception { fuzz("optimizer state", seed, m, random); }

    // ---- seeds and parsers ---------------------------------------------------------------------------

    private static Tensor filled(DType type, int... shape) {
        Tensor t = Tensor.zeros(type, shape);
        if (type == DType.F32) for (long i = 0; i < t.size(); i++) t.set(i, (float) Math.sin(i + 1));
        return t;
    }

    private static FuzzTarget safetensors(Path dir) throws Exception {
        Files.createDirectories(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("model.embed_tokens.weight", filled(DType.F32, 6, 4));
        tensors.put("model.norm.weight", filled(DType.F32, 4));
        tensors.put("codes", filled(DType.I8, 3, 5));
        tensors.put("scalar", filled(DType.F32));
        List<FuzzTarget.Seed> seeds = new ArrayList<>();
        for (DType storage : List.of(DType.F32, DType.BF16, DType.F16)) {
            Path f = dir.resolve("model-" + storage + ".safetensors");
            Safetensors.write(f, tensors, Map.of("tern_step", "3"), storage);
            seeds.add(new FuzzTarget.Seed(storage.toString(), f, Files.readAllBytes(f)));
        }
        return new FuzzTarget("safetensors", seeds, file -> {
            try (SafetensorsFile f = Safetensors.open(file)) {
                for (String n : f.names()) f.tensor(n).close();
            }
        });
    }

    private static FuzzTarget configJson(Path dir) throws Exception {
        Files.createDirectories(dir);
        List<FuzzTarget.Seed> seeds = new ArrayList<>();
        for (LlamaConfig c : List.of(LlamaConfig.preset("tiny").ternary(), LlamaConfig.preset("1.1B").ternary(), LlamaConfig.preset("99M"))) {
            Path f = dir.resolve("config-" + seeds.size() + ".json");
            seeds.add(new FuzzTarget.Seed("config " + seeds.size(), f, HfConfig.write(c).getBytes(StandardCharsets.UTF_8)));
        }
        return new FuzzTarget("config.json", seeds, file -> HfConfig.read(Files.readString(file, StandardCharsets.ISO_8859_1), file.toString()));
    }

    private static FuzzTarget tokenizerJson(Path dir, Tokenizer tokenizer) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        TokenizerFiles.save(tokenizer, f);
        return new FuzzTarget("tokenizer.json", List.of(new FuzzTarget.Seed("bpe-300", f, Files.readAllBytes(f))), TokenizerFiles::load);
    }

    private static FuzzTarget tokenShard(Path dir, Tokenizer tokenizer) throws Exception {
        Prepare.Summary s = Prepare.fromText(GrammarCorpus.generate(4, 3_000), tokenizer, dir, 0.2);
        List<FuzzTarget.Seed> seeds = new ArrayList<>();
        for (Path shard : List.of(s.trainShards().getFirst(), s.valShards().getFirst()))
            seeds.add(new FuzzTarget.Seed(shard.getFileName().toString(), shard, Files.readAllBytes(shard)));
        return new FuzzTarget("token shard", seeds, ParserFuzzTest::fixShardCrc, file -> TokenShard.open(file).close());
    }

    private static FuzzTarget packedModel(Path dir) throws Exception {
        Files.createDirectories(dir);
        LlamaConfig config = new LlamaConfig(40, 32, 64, 1, 4, 32, 1e-5f, 10000f, 1, Precision.of(new LinearPolicy.Ternary(1)));
        Path f = dir.resolve("model.tern");
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            m.initialize(5);
            PackedModelWriter.write(m, null, PackedFloatMatvec.Format.F16, f);
        }
        return new FuzzTarget("packed model", List.of(new FuzzTarget.Seed("ternary 1-layer", f, Files.readAllBytes(f))),
                ParserFuzzTest::fixPackedPreamble, file -> InferenceModel.load(file).close());
    }

    /** GGUF (llama.cpp's format) through Tern's llama loader: a TQ2_0 file with f16 embeddings and a TQ1_0 one with Q8_0. */
    private static FuzzTarget gguf(Path dir, Tokenizer tokenizer) throws Exception {
        Files.createDirectories(dir);
        LlamaConfig config = new LlamaConfig(tokenizer.vocabSize(), 256, 256, 1, 2, 32, 1e-5f, 10000f, 1, Precision.of(new LinearPolicy.Ternary(1)));
        List<FuzzTarget.Seed> seeds = new ArrayList<>();
        try (LlamaModel m = new LlamaModel(new CpuBackend(), config)) {
            m.initialize(6);
            for (tern.checkpoint.GgufType[] types : List.of(new tern.checkpoint.GgufType[] {tern.checkpoint.GgufType.TQ2_0, tern.checkpoint.GgufType.F16},
                    new tern.checkpoint.GgufType[] {tern.checkpoint.GgufType.TQ1_0, tern.checkpoint.GgufType.Q8_0})) {
                Path f = dir.resolve(types[0].label() + ".gguf");
                tern.train.GgufExport.write(m, tokenizer, types[0], types[1], "fuzz", f);
                seeds.add(new FuzzTarget.Seed(types[0].label(), f, Files.readAllBytes(f)));
            }
        }
        return new FuzzTarget("gguf", seeds, file -> tern.train.GgufImport.load(file, new CpuBackend()).model().close());
    }

    private static final java.nio.ByteOrder LE = java.nio.ByteOrder.LITTLE_ENDIAN;

    /** A token shard's payload CRC32 (at 32) recomputed, so bad token ids and counts reach their checks. */
    static byte[] fixShardCrc(byte[] b) {
        if (b.length < 64) return b;
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(b, 64, b.length - 64);
        byte[] out = b.clone();
        java.nio.ByteBuffer.wrap(out).order(LE).putInt(32, (int) crc.getValue());
        return out;
    }

    /**
     * A packed file's preamble made to agree with the mutated bytes: the file length (at 40) and the header's
     * CRC32C (at 48), so a mutated header JSON reaches the header and model checks.
     */
    static byte[] fixPackedPreamble(byte[] b) {
        if (b.length < 64) return b;
        byte[] out = b.clone();
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(out).order(LE);
        bb.putLong(40, out.length);
        long off = bb.getLong(16), len = bb.getLong(24);
        if (off < 0 || len < 0 || off > out.length || len > out.length - off) return out;
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(out, (int) off, (int) len);
        bb.putInt(48, (int) crc.getValue());
        return out;
    }

    private static FuzzTarget evalTasks(Path dir) throws Exception {
        Path resources = Path.of("src/test/resources/eval/tasks");
        List<FuzzTarget.Seed> seeds = new ArrayList<>();
        Map<Path, Task> taskOf = new LinkedHashMap<>();
        Map<String, Task> files = new LinkedHashMap<>();
        files.put("hellaswag_val.jsonl", new HellaSwagTask());
        files.put("ARC-Easy-Test.jsonl", ArcTask.easy());
        files.put("lambada_test.jsonl", new LambadaTask());
        files.put("winogrande_dev.jsonl", new WinoGrandeTask());
        files.put("sciq_test.json", new SciqTask());
        files.put("piqa_valid.jsonl", new PiqaTask());
        files.put("piqa_valid-labels.lst", new PiqaTask());
        for (Map.Entry<String, Task> e : files.entrySet()) {
            Path taskDir = Files.createDirectories(dir.resolve(e.getKey().replace('.', '_')));
            for (String companion : List.of("piqa_valid.jsonl", "piqa_valid-labels.lst"))
                if (e.getKey().startsWith("piqa")) Files.copy(resources.resolve(companion), taskDir.resolve(companion));
            Path f = taskDir.resolve(e.getKey());
            seeds.add(new FuzzTarget.Seed(e.getKey(), f, Files.readAllBytes(resources.resolve(e.getKey()))));
            taskOf.put(f, e.getValue());
        }
        return new FuzzTarget("eval jsonl", seeds, file -> taskOf.get(file).load(file.getParent()));
    }

    private static Path checkpointSeed(Path dir) {
        Map<String, tern.checkpoint.AtomicFiles.Content> files = new LinkedHashMap<>();
        files.put("model.safetensors", tern.checkpoint.AtomicFiles.utf8("weights"));
        TrainingState state = new TrainingState(12, 12 * 256, 12, 3.5, Map.of("model_init_seed", 7L),
                Map.of("kind", "batch_sampler", "rng", List.of(1L, 2L)), Map.of("preset", "tiny", "steps", 40L));
        files.put(TrainingState.FILE, state.content());
        return new CheckpointWriter(dir).write("step-000012", files);
    }

    private static FuzzTarget manifest(Path dir) throws Exception {
        Path ckpt = checkpointSeed(dir);
        Path f = ckpt.resolve(CheckpointManifest.FILE);
        return new FuzzTarget("manifest.json", List.of(new FuzzTarget.Seed("manifest", f, Files.readAllBytes(f))),
                file -> CheckpointManifest.read(file.getParent()).verify(file.getParent()));
    }

    private static FuzzTarget trainingState(Path dir) throws Exception {
        Path ckpt = checkpointSeed(dir);
        Path f = ckpt.resolve(TrainingState.FILE);
        return new FuzzTarget("training_state", List.of(new FuzzTarget.Seed("state", f, Files.readAllBytes(f))), TrainingState::read);
    }

    /** A data folder's meta.json, checked against its (valid) shards by {@link TokenShardSet#open}. */
    private static FuzzTarget dataMeta(Path dir, Tokenizer tokenizer) throws Exception {
        Prepare.fromText(GrammarCorpus.generate(6, 3_000), tokenizer, dir, 0.2);
        Path f = dir.resolve("meta.json");
        return new FuzzTarget("meta.json", List.of(new FuzzTarget.Seed("meta", f, Files.readAllBytes(f))),
                file -> TokenShardSet.open(file.getParent(), warning -> {}).close());
    }

    /**
     * A model folder's config.json, loaded with its (valid) model.safetensors as eval, export, pack and generate
     * load it: config, shapes against the header, precision and memory checked before allocating, then the
     * weights. A float and a ternary folder.
     */
    private static FuzzTarget modelFolder(Path dir) throws Exception {
        List<FuzzTarget.Seed> seeds = new ArrayList<>();
        for (LlamaConfig c : List.of(TinyCheckpoints.SHAPE, TinyCheckpoints.SHAPE.ternary())) {
            Path folder = TinyCheckpoints.modelFolder(dir.resolve(c.precision().weights().label()), c, w -> {}, t -> t);
            Path f = folder.resolve("config.json");
            seeds.add(new FuzzTarget.Seed(c.precision().weights().label(), f, Files.readAllBytes(f)));
        }
        return new FuzzTarget("model folder", seeds, file -> TrainCheckpoint.loadModel(file.getParent(), new CpuBackend()).close());
    }

    /** optimizer.safetensors as the trainer writes it: moments named after the parameters, and a step. */
    private static FuzzTarget optimizerLike(Path dir) throws Exception {
        Files.createDirectories(dir);
        try (LlamaModel m = new LlamaModel(new CpuBackend(), new LlamaConfig(24, 16, 32, 1, 2, 16, 1e-5f, 10000f, 1, Precision.FLOAT));
             tern.runtime.AdamW opt = new tern.runtime.AdamW(m.backend(), m.parameters(), 0.9f, 0.95f, 1e-8f)) {
            Path f = dir.resolve(tern.checkpoint.OptimizerState.FILE);
            tern.checkpoint.AtomicFiles.writeFile(f, tern.checkpoint.OptimizerState.content(opt, m.backend()));
            byte[] bytes = Files.readAllBytes(f);
            return new FuzzTarget("optimizer state", List.of(new FuzzTarget.Seed("adamw", f, bytes)), file -> {
                try (LlamaModel m2 = new LlamaModel(new CpuBackend(), m.config());
                     tern.runtime.AdamW o2 = new tern.runtime.AdamW(m2.backend(), m2.parameters(), 0.9f, 0.95f, 1e-8f)) {
                    tern.checkpoint.OptimizerState.load(file, o2, m2.backend());
                }
            });
        }
    }
}
