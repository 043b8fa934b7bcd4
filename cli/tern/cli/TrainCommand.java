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
import tern.runtime.GradientSync;
import tern.train.RendezvousFile;
import tern.train.TcpGradientSync;
import tern.train.TcpGroup;
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
    private static final Set<String> OTHER_FLAGS = Set.of("config", "resume", "stop-after", "device", "compute", "on-nan", "init",
            "gpus", "processes", "nodes", "node-rank", "master", "zero", "tensor-parallel",
            "rank", "ranks", "rendezvous", "job", "heartbeat");       // the last five: what the launcher gives each rank

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
              --gpus N             data parallel over N GPUs: tern starts one process per GPU (NCCL); rank 0
                                   writes the log and checkpoints; global batch (batch × accum), schedule and
                                   data order do not depend on N (accum must be a multiple of the ranks)
              --processes N        the same over N CPU processes (TCP), to test a job without GPUs
              --zero 0|1           1: shard AdamW's moments across the ranks (ZeRO-1); same checkpoints   [0]
              --tensor-parallel K  Spectra's tensor parallelism: each block linear split over K ranks (q/k/v/gate/up
                                   by rows, o/down by columns); N ranks make N/K data-parallel replicas of K
                                   (rank r: slice r mod K of replica r / K). K must divide N, the heads and the
                                   intermediate size; a ternary run needs --ternary-shards a multiple of K.
                                   Checkpoints hold the whole model: resume at any K                       [1]
              --ternary-shards S   absmean scales per ternary matrix (Spectra's model-parallel size)   [preset]
              --nodes M --node-rank I --master HOST:PORT   several hosts, M × N ranks: run the same command
                                   on each host with its --node-rank; rank 0 (node 0) listens on HOST:PORT
            Every plan runs on either device. A run folder is locked while a trainer writes to it.
            Ctrl-C saves a checkpoint at the next step boundary and exits.""".formatted(Devices.FLAGS);

    static int run(String[] argv) throws IOException {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        try {
            return train(argv);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private static int train(String[] argv) throws IOException, InterruptedException {
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
        RankLauncher.Plan plan = launchPlan(args, onNan);
        int tensorParallel = tensorParallel(args, plan);
        if (plan != null) {
            int replicas = plan.ranks() / tensorParallel;
            if (fresh != null && fresh.accum() % replicas != 0)        // a resumed run's accum is checked by each rank
                throw new UsageException("--accum " + fresh.accum() + " must be a multiple of the " + replicas
                        + (tensorParallel > 1 ? " data-parallel replicas (" + plan.ranks() + " ranks / --tensor-parallel " + tensorParallel + ")" : " ranks")
                        + ": each step's micro-batches are shared out evenly (the global batch stays batch × accum)");
            if (fresh != null) checkTensorParallel(fresh, tensorParallel);
            Path runDir = resume != null ? TrainRun.runFolder(resume) : Path.of(fresh.out()).toAbsolutePath().normalize();
            String grid = tensorParallel == 1 ? "" : String.format(Locale.ROOT, " = %d data-parallel replica%s × tensor parallel %d", replicas,
                    replicas == 1 ? "" : "s", tensorParallel);
            System.out.println("tern train: " + RankLauncher.describe(plan) + grid + "; rank 0 writes " + runDir + ", the others log to rank-R.log there");
            return RankLauncher.launch(argv, plan, runDir);
        }
        Backend backend = Devices.open(args);
        TrainRun run;
        GradientSync sync = null;
        tern.train.RankGrid grid = null;                      // the world and its sub-groups, once split
        TcpGroup control = null;
        try {
            TrainRun.Ranks ranks = null;
            if (args.has("rank")) {
                Object[] joined = joinRanks(args, backend);
                sync = (GradientSync) joined[0];
                control = (TcpGroup) joined[1];
                grid = tern.train.RankGrid.of(sync, tensorParallel);
                ranks = new TrainRun.Ranks(grid, zero(args));
                RankLauncher.watchdog(args.intValue("heartbeat", 0), grid.world().rank(), grid::asyncError);
            } else if (zero(args)) {
                throw new UsageException("--zero 1 shards the optimizer across ranks: give --gpus N or --processes N");
            }
            run = resume != null
                    ? TrainRun.resume(resume, settings, backend, ranks)
                    : TrainRun.start(fresh, backend, args.has("init") ? Path.of(args.required("init")) : null, ranks);
        } catch (IllegalArgumentException e) {
            closeQuietly(grid, sync, control);
            backend.close();
            throw new UsageException(e.getMessage());
        } catch (IOException | RuntimeException e) {
            closeQuietly(grid, sync, control);
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
                else if (run.log() == null) System.out.println("done: " + r.step() + " steps (rank " + sync.rank() + "; rank 0 wrote the checkpoints)");
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
            closeQuietly(grid, sync, control);
            backend.close();
        }
    }

    private static boolean zero(Args args) {
        String z = args.string("zero", "0");
        return switch (z) {
            case "0" -> false;
            case "1" -> true;
            default -> throw new UsageException("--zero must be 0 (every rank holds the optimizer state) or 1 (sharded), got '" + z + "'");
        };
    }

    /**
     * --tensor-parallel K (1 when not given): what the launcher starts must split evenly into replicas of K,
     * and a rank checks the same (its --ranks).
     */
    private static int tensorParallel(Args args, RankLauncher.Plan plan) {
        if (!args.has("tensor-parallel")) return 1;
        int k = args.intValue("tensor-parallel", 1);
        if (k < 1) throw new UsageException("--tensor-parallel must be at least 1, got " + k);
        int ranks = plan != null ? plan.ranks() : args.has("rank") ? args.intValue("ranks", 1) : 1;
        if (k > 1 && plan == null && !args.has("rank"))
            throw new UsageException("--tensor-parallel " + k + " splits the model over " + k + " ranks: give --processes N (CPU) or --gpus N"
                    + " with N a multiple of " + k);
        try {
            tern.train.RankGrid.check(ranks, k);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (k > 1 && ranks == k && zeroGiven(args))
            throw new UsageException("--zero 1 shards the optimizer across data-parallel replicas; " + ranks + " ranks with --tensor-parallel " + k
                    + " are one replica (give more ranks, or drop --zero)");
        return k;
    }

    private static boolean zeroGiven(Args args) { return args.has("zero") && zero(args); }

    /** A fresh run's model must split K ways (heads, intermediate size, ternary shards): refused before any rank starts. */
    private static void checkTensorParallel(TrainConfig config, int k) {
        if (k == 1) return;
        try {
            tern.model.TensorParallel.check(TrainRun.modelConfig(config, 1), k);    // the vocabulary does not matter here
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** The launcher's plan when this invocation starts ranks (--gpus / --processes), else null. */
    private static RankLauncher.Plan launchPlan(Args args, tern.train.NanPolicy onNan) {
        boolean gpus = args.has("gpus"), processes = args.has("processes");
        if (!gpus && !processes) {
            for (String f : List.of("nodes", "node-rank", "master"))
                if (args.has(f) && !args.has("rank")) throw new UsageException("--" + f + " goes with --gpus N (or --processes N)");
            return null;
        }
        if (args.has("rank")) throw new UsageException("--rank is what the launcher gives each rank; drop --gpus/--processes");
        if (gpus && processes) throw new UsageException("--gpus and --processes exclude each other");
        String device = args.string("device", "cpu");
        if (gpus && !device.equals("cuda")) throw new UsageException("--gpus needs --device cuda (CPU ranks: --processes N)");
        if (processes && !device.equals("cpu")) throw new UsageException("--processes runs CPU ranks; on GPUs use --gpus N");
        if (onNan == tern.train.NanPolicy.ROLLBACK)
            throw new UsageException("--on-nan rollback is not supported with several ranks yet (use stop or skip)");
        zero(args);                                           // a bad value fails here, not in every rank
        String master = args.string("master", null);
        if (master != null) {
            try {
                TcpGroup.parseAddress(master);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        }
        return new RankLauncher.Plan(args.intValue(gpus ? "gpus" : "processes", 0), args.intValue("nodes", 1), args.intValue("node-rank", 0), master, gpus);
    }

    /**
     * A rank of a job the launcher started: its place, and the transport to the others (NCCL on GPUs, its
     * unique id through the rendezvous file or TCP; TCP collectives on the CPU). Returns {sync, control
     * group or null}.
     */
    private static Object[] joinRanks(Args args, Backend backend) throws IOException {
        int rank = args.intValue("rank", -1), ranks = args.intValue("ranks", -1);
        if (ranks < 1 || rank < 0 || rank >= ranks) throw new UsageException("--rank " + rank + " --ranks " + ranks + ": need 0 ≤ rank < ranks");
        String job = args.required("job");
        long timeout = RankLauncher.STARTUP_MILLIS;
        if (backend.device() == tern.runtime.Device.CPU) {
            TcpGroup g = TcpGroup.join(TcpGroup.parseAddress(args.required("master")), rank, ranks, job, timeout);
            return new Object[] {new TcpGradientSync(g, backend), null};
        }
        TcpGroup control = args.has("master") ? TcpGroup.join(TcpGroup.parseAddress(args.required("master")), rank, ranks, job, timeout) : null;
        Path file = control == null ? Path.of(args.required("rendezvous")) : null;
        java.util.function.UnaryOperator<byte[]> share = id -> {
            if (control != null) return control.broadcast(id);
            try {
                if (id != null) {
                    RendezvousFile.publish(file, job, id);
                    return id;
                }
                return RendezvousFile.await(file, job, timeout);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for rank 0's NCCL id", e);
            }
        };
        try {
            Object sync = Class.forName("tern.cuda.NcclGradientSync")
                    .getMethod("join", Backend.class, int.class, int.class, java.util.function.UnaryOperator.class)
                    .invoke(null, backend, rank, ranks, share);
            return new Object[] {sync, control};
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (control != null) control.close();
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException("NCCL set-up failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | LinkageError e) {
            if (control != null) control.close();
            throw new UsageException("--gpus: this build cannot use NCCL (" + e + ")");
        }
    }

    private static void closeQuietly(tern.train.RankGrid grid, GradientSync sync, TcpGroup control) {
        try {
            if (grid != null) grid.close();                   // the sub-groups, then the world
            else if (sync != null) sync.close();
        } catch (RuntimeException e) {
            System.err.println("tern train: closing the ranks' transport: " + e.getMessage());
        }
        if (control != null) control.close();
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
