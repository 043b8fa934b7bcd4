package tern.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import tern.checkpoint.Json;
import tern.runtime.Backend;
import tern.train.Progress;
import tern.train.TrainConfig;
import tern.train.TrainRun;
import tern.train.Trainer;
import tern.train.TrainerStop;
import tern.train.TrainingDiverged;

/**
 * {@code tern train}: pretrain a model of a preset at a precision on prepared token shards, with the
 * preset's recipe, a JSON config file and flags layered on top (flags win), or continue a run with
 * {@code --resume}.
 */
final class TrainCommand {
    private TrainCommand() {}

    /** Flags that set a {@link TrainConfig} value (flag name = JSON key with '-' for '_'); reset_optimizer is a switch. */
    private static final List<String> SETTING_FLAGS = TrainConfig.KEYS.stream().filter(k -> !k.equals("reset_optimizer"))
            .map(k -> k.replace('_', '-')).toList();
    private static final Set<String> OTHER_FLAGS = Set.of("config", "resume", "stop-after", "device", "compute", "on-nan", "init");

    static final String USAGE = """
            usage: tern train --preset NAME --precision float|ternary|binary --data DIR --steps N --out DIR [options]
                   tern train --resume RUN_DIR [--steps N] [--stop-after N] [--device cpu|cuda]
              --preset NAME        model and recipe: tiny, golden, 10M, 99M, 190M, 390M, 560M, 830M, 1.1B, 1.5B, 2.4B, 3.9B
              --precision P        float (FloatLM), ternary (TriLM), binary (BiLM), int<k>-row       [ternary]
              --hidden H --intermediate F --layers L --heads A   the model's shape over the preset's (its recipe kept)
              --data DIR           token shards from tern prepare (train-*.tok, val-*.tok, tokenizer.json)
              --out DIR            run folder: train_log.jsonl, checkpoints/step-NNNNNN/
              --steps N            optimizer steps                                           [preset]
              --batch B --seq T --accum A   micro-batch rows, tokens per row, micro-batches per step
              --lr X --min-lr X --warmup N --schedule linear|cosine|spectra|constant
              --weight-decay X --clip X --beta1 X --beta2 X --eps X
              --lr-cut-ratio X --lr-cut-at F --decay-off-at F   (Spectra schedule: reduced peak, when, decay off)
              --seed S --eval-every N --eval-batches N --save-every N --keep N
              --config FILE        JSON object of the same settings (snake_case keys); flags override it
              --resume DIR         continue the run in DIR (it writes there) from its latest complete checkpoint,
                                   on either device
              --stop-after N       stop (with a checkpoint) after N more steps in this invocation
              --on-nan P           a NaN/Inf loss or gradient: stop (exit 1), skip the batch, or rollback to the last checkpoint [stop]
%s
              --checkpoint-activations auto|on|off   recompute each block in the backward pass instead of keeping
                                   its activations (same gradients, one more forward); auto: when it would not fit [auto]
              --switch-to ternary --switch-at STEP|FRACTION   continual QAT: from that step on train in ternary
              --keep-optimizer | --reset-optimizer            at the switch keep (default) or zero the AdamW state
              --phase-in STEPS     W + λ·(Q(W) − W) with λ rising linearly 0 → 1 over STEPS after the switch
              --weight-bits K --act-bits K --kv-bits K      k-bit (2..16) integer fake quantization, weights per output channel
              --init DIR           start from an existing checkpoint's weights (e.g. a FloatLM)
            Every plan runs on either device. A run folder is locked while a trainer writes to it.
            Ctrl-C saves a checkpoint at the next step boundary and exits.""".formatted(Devices.FLAGS);

    static int run(String[] argv) throws IOException {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Set<String> withValue = new java.util.HashSet<>(SETTING_FLAGS);
        withValue.addAll(OTHER_FLAGS);
        Args args = Args.parse("train", argv, withValue, Set.of("keep-optimizer", "reset-optimizer"));
        Map<String, Object> settings = new LinkedHashMap<>();
        if (args.has("config")) settings.putAll(readConfigFile(Path.of(args.required("config"))));
        args.givenAmong(SETTING_FLAGS).forEach((flag, value) -> settings.put(flag.replace('-', '_'), value));
        if (args.has("keep-optimizer") && args.has("reset-optimizer")) throw new UsageException("--keep-optimizer and --reset-optimizer exclude each other");
        if (args.has("reset-optimizer")) settings.put("reset_optimizer", true);
        if (args.has("keep-optimizer")) settings.put("reset_optimizer", false);
        long stopAfter = args.longValue("stop-after", Long.MAX_VALUE);
        if (stopAfter < 1) throw new UsageException("--stop-after must be at least 1, got " + stopAfter);
        tern.train.NanPolicy onNan;
        try {
            onNan = tern.train.NanPolicy.parse(args.string("on-nan", "stop"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        Path resume = args.has("resume") ? Path.of(args.required("resume")) : null;
        if (resume != null && args.has("init")) throw new UsageException("--init starts a run; a resumed run keeps its weights (drop --init)");
        TrainConfig fresh = null;
        try {
            if (resume == null) fresh = TrainConfig.resolve(settings);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (fresh != null) warnAboutData(fresh.data());
        Backend backend = Devices.open(args);
        TrainRun run;
        try {
            run = resume != null
                    ? TrainRun.resume(resume, settings, backend)
                    : TrainRun.start(fresh, backend, args.has("init") ? Path.of(args.required("init")) : null);
        } catch (IllegalArgumentException e) {
            backend.close();
            throw new UsageException(e.getMessage());
        } catch (IOException | RuntimeException e) {
            backend.close();
            throw e;
        }
        try (run) {
            TrainConfig c = run.config();
            Trainer trainer = run.trainer();
            trainer.onNan(onNan.handler(run.checkpoints()));
            System.out.printf(Locale.ROOT, "%s, %s recipe: %s%n", run.schedule().describe(), c.preset(), run.model().config().describe());
            System.out.println("backend " + backend.name() + ", compute " + backend.compute() + "; run folder " + run.out());
            if (args.has("init")) System.out.println("initialized from " + args.required("init"));
            System.out.printf(Locale.ROOT, "data %s: %,d training tokens, %,d validation tokens; %,d tokens per step (%d×%d×%d)%n",
                    run.data().dir(), run.data().trainTokens(), run.data().valTokens(), c.tokensPerStep(), c.batch(), c.seq(), c.accum());
            System.out.printf(Locale.ROOT, "schedule %s: lr %.2e → %.2e, warmup %d, weight decay %.2f; %s from step %d to %d%n",
                    c.schedule(), c.lr(), c.minLr(), c.warmup(), c.weightDecay(),
                    trainer.step() > 0 ? "resuming" : "training", trainer.step(), c.steps());
            TrainerStop stop = new TrainerStop().onShutdown();
            Progress progress = Progress.onConsole(trainer.step(), c.steps());
            long until = stopAfter == Long.MAX_VALUE ? c.steps() : Math.min(c.steps(), trainer.step() + stopAfter);
            try {
                Trainer.Result r = run.run(until, progress, stop, System.out);
                progress.finish();
                if (r.stopped()) System.out.println("stopped at step " + r.step() + "; continue with: tern train --resume " + run.out());
                else if (r.step() < c.steps()) System.out.println("paused at step " + r.step() + "; continue with: tern train --resume " + run.out());
                else System.out.println("done: " + r.step() + " steps; checkpoint " + r.lastCheckpoint() + ", log " + run.log().file());
                return 0;
            } catch (TrainingDiverged e) {
                progress.finish();
                System.err.println("tern train: " + e.getMessage() + "; the last good checkpoint is in " + run.checkpoints());
                return 1;
            } finally {
                stop.finished();
            }
        } finally {
            backend.close();
        }
    }

    /**
     * A data folder without a tokenizer makes checkpoints generate cannot read (a folder without validation
     * shards is warned about when the shards are opened: DataFolderCheck).
     */
    private static void warnAboutData(String data) {
        if (data == null) return;
        Path dir = Path.of(data);
        if (!Files.isDirectory(dir)) return;                  // the run's own error names it
        if (!Files.isRegularFile(dir.resolve(tern.train.TrainCheckpoint.TOKENIZER)))
            System.err.println("tern train: warning: " + dir + " has no tokenizer.json: the checkpoints will have none, so tern generate "
                    + "cannot read text with them (tern prepare writes it; or copy the tokenizer there)");
    }

    private static Map<String, Object> readConfigFile(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new UsageException("--config " + file + ": no such file");
        try {
            return Json.parseObject(Files.readString(file));
        } catch (Json.JsonException e) {
            throw new UsageException("--config " + file + ": " + e.getMessage());
        }
    }
}
