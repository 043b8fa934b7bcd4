package tern.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import tern.model.LlamaModel;
import tern.runtime.AdamW;
import tern.runtime.Backend;
import tern.runtime.GradientSync;
import tern.runtime.Optimizer;
import tern.runtime.Parameter;
import tern.runtime.Schedule;
import tern.runtime.StepReplay;
import tern.runtime.Tape;

/**
 * The training loop: micro-batches from the sampler, forward and backward on a tape, gradient accumulation,
 * a NaN/Inf guard, global-norm clipping, one AdamW update with the scheduled learning rate and weight decay,
 * then logging, periodic validation and checkpoints.
 *
 * <p>Exact resumption. Everything a step depends on is saved in a checkpoint and nothing else: the weights
 * (f32), the AdamW moments and step count, the sampler's RNG state, the step (the schedule is a pure
 * function of it) and the config. The CPU kernels split work by fixed chunk boundaries and give the same bits
 * interpreted and JIT-compiled (fixed-order lane sums, an exp from basic IEEE operations), so a resumed run,
 * starting in a cold JVM, repeats the uninterrupted one bit for bit (ResumeTest, on the Vector API path). Validation draws
 * no random numbers, so evaluating or not does not change the training trajectory.
 */
public final class Trainer {
    /** Writes a checkpoint of the trainer's current state; returns its directory. */
    @FunctionalInterface
    public interface Checkpointer {
        Path save(Trainer trainer) throws IOException;
    }

    /** How a {@link #run} ended: the step reached, whether a stop request ended it, the last validation. */
    public record Result(long step, boolean stopped, double lastValidationLoss, Path lastCheckpoint) {}

    private final TrainConfig config;
    private final LlamaModel model;
    private final Backend backend;
    private Optimizer optimizer;
    private final Schedule schedule;
    private final BatchSampler sampler;
    private final List<Batch> validation;
    private long step;
    private double secondsBefore;
    private NanPolicy.Handler onNan;
    private GradientSync sync;                     // the data-parallel group (null: none)
    private RankGrid grid;                         // the whole job (null: one process)
    private final LossScale lossScale;             // fp16 activations only; null otherwise
    private boolean stopping;          // a stop every rank agreed on, at the top of the step loop
    private StepReplay replay;                     // -Dtern.cuda.trainGraph=true on a backend that has one; else null

    /**
     * @param sampler    the training batches (config.batch() rows of config.seq() tokens)
     * @param validation the fixed validation batches (may be empty: no validation)
     */
    public Trainer(TrainConfig config, LlamaModel model, BatchSampler sampler, List<Batch> validation) {
        if (sampler.batchSize() != config.batch() || sampler.seqLen() != config.seq())
            throw new IllegalArgumentException("the sampler draws " + sampler.batchSize() + "×" + sampler.seqLen()
                    + " batches, the config asks for " + config.batch() + "×" + config.seq());
        this.config = config;
        this.model = model;
        this.backend = model.backend();
        this.lossScale = LossScale.forBackend(backend);
        this.optimizer = new AdamW(backend, model.parameters(), (float) config.beta1(), (float) config.beta2(), (float) config.eps());
        this.schedule = config.scheduleFunction();
        this.sampler = sampler;
        this.validation = List.copyOf(validation);
        if (Boolean.getBoolean(GRAPH_PROPERTY)) useStepGraph(true);
    }

    /** {@code -Dtern.cuda.trainGraph=true}: the step's forward and backward replayed as a graph ({@link #useStepGraph}). */
    public static final String GRAPH_PROPERTY = "tern.cuda.trainGraph";

    /**
     * With {@code on}, from the second step of a shape on, the step's gradient zeroing, forward, backward and
     * gradient norm run as a graph the backend captured ({@link Backend#stepReplay}: CUDA), replayed each
     * step; the loss and norm are read after the replay, and the clipping and AdamW update follow eagerly as
     * before (their learning rate and scale change every step). The same bits as the eager step: the graph
     * holds the eager step's own launches, checked against it before every replay. Data- and
     * tensor-parallel jobs keep the eager step (their collectives run between the backward and the norm).
     * Returns whether a graph will be used (false where the backend has none).
     */
    public boolean useStepGraph(boolean on) {
        if (replay != null) replay.close();
        replay = on && grid == null && model.tensorParallel().ranks() == 1 ? backend.stepReplay() : null;
        return replay != null;
    }

    /** The step graph ({@link #useStepGraph}), or null. */
    public StepReplay stepReplay() { return replay; }

    /** How the graph ran the steps so far ({@link StepReplay#describe}), or null without one. */
    public String stepGraphReport() { return replay == null ? null : replay.describe(); }

    public TrainConfig config() { return config; }
    public LlamaModel model() { return model; }
    public Optimizer optimizer() { return optimizer; }
    public BatchSampler sampler() { return sampler; }

    /** What a step with a NaN/Inf loss or gradient does ({@link NanPolicy}); null (the default) throws {@link TrainingDiverged}. */
    public void onNan(NanPolicy.Handler handler) { this.onNan = handler; }

    /**
     * Makes this trainer one rank of a data-parallel job. The step's micro-batches are dealt out in turn
     * (micro-batch a to rank a mod ranks), every rank draws all of them so the samplers stay in step, and the
     * gradients and loss are summed over the ranks before the NaN check, clipping and the update: the global
     * batch, the data order and the schedule are those of the single-process run, whatever the number of
     * ranks. config.accum() must be a multiple of the ranks. Every rank keeps the whole optimizer state.
     */
    public void dataParallel(GradientSync sync) {
        dataParallel(sync, false);
    }

    /**
     * As {@link #dataParallel(GradientSync)}; with {@code shardOptimizer} the AdamW state is sharded across
     * the ranks (ZeRO-1, {@link tern.runtime.ShardedAdamW}) instead of held whole by each. Call it before a
     * checkpoint is restored into the optimizer: the moments so far are not carried over.
     */
    public void dataParallel(GradientSync sync, boolean shardOptimizer) {
        parallel(RankGrid.dataParallel(sync), shardOptimizer);
    }

    /**
     * Makes this trainer one rank of a job of data-parallel replicas, each {@code grid.tensorRanks()} ranks of
     * tensor parallelism (the model must have been built on {@code grid.tensor()}). Micro-batches are dealt
     * out by data-parallel rank only, so the K ranks of a replica read the same ones; gradients and loss are
     * summed over the data group; the clipping norm is that of the whole model (the sliced parameters'
     * squares summed over the tensor group, the replicated ones, equal on its ranks, counted once); ZeRO-1
     * shards the moments within each data group. config.accum() must be a multiple of the replicas.
     */
    public void parallel(RankGrid grid, boolean shardOptimizer) {
        if (grid.tensorRanks() != model.tensorParallel().ranks())
            throw new IllegalArgumentException("the model is split over " + model.tensorParallel().ranks() + " tensor-parallel ranks, the job over "
                    + grid.tensorRanks());
        int replicas = grid.dataRanks();
        if (config.accum() % replicas != 0)
            throw new IllegalArgumentException("train setting 'accum' (" + config.accum() + ") must be a multiple of the " + replicas
                    + (grid.tensorRanks() > 1 ? " data-parallel replicas" : " ranks") + ": each step's micro-batches are shared out evenly");
        this.grid = grid;
        this.sync = grid.data();
        if (replay != null) {
            replay.close();                 // the gradient sums run between the backward and the norm
            replay = null;
        }
        if (shardOptimizer && sync != null) {
            long at = optimizer.step();
            optimizer.close();
            optimizer = new tern.runtime.ShardedAdamW(backend, model.parameters(), sync, (float) config.beta1(), (float) config.beta2(), (float) config.eps());
            optimizer.setStep(at);
        }
    }

    /** The ranks this trainer shares its gradient sums with (its data-parallel group); null when none. */
    public GradientSync gradientSync() { return sync; }

    /** This rank's place in its job; null when it trains alone. */
    public RankGrid rankGrid() { return grid; }

    /**
     * True once a stop was requested and, in a data-parallel job, every rank has agreed to it (a signal may
     * reach the ranks at different moments; they must stop, and save, after the same step).
     */
    public boolean stopping() { return stopping; }

    private boolean agreedStop(TrainerStop stop) {
        boolean mine = stop != null && stop.requested();
        return grid == null ? mine : grid.world().sum(mine ? 1 : 0) > 0;
    }

    /** Updates applied so far. */
    public long step() { return step; }

    /** Training seconds so far, earlier sessions of a resumed run included. */
    public double seconds() { return secondsBefore; }

    /**
     * Sets the counters after a checkpoint was loaded into the model, the optimizer's moments and the
     * sampler. The optimizer's own step must agree: it drives Adam's bias correction.
     */
    public void restoreCounters(long step, double seconds) {
        if (step < 0 || step > config.steps())
            throw new IllegalArgumentException("checkpoint step " + step + " is outside this run's 0.." + config.steps());
        if (optimizer.step() != step)
            throw new IllegalStateException("optimizer was restored at step " + optimizer.step() + ", the trainer at " + step);
        this.step = step;
        this.secondsBefore = seconds;
    }

    /**
     * Trains until {@code untilStep} (capped at config.steps()) or a stop request, whichever comes first.
     * A checkpoint is written every config.saveEvery() steps, at the end, and when stopped early.
     *
     * @param progress     the display, or null for none
     * @param checkpointer null for no checkpoints (tests of the loop alone)
     * @throws TrainingDiverged on a NaN/Inf loss or gradient (nothing of that step is applied)
     */
    public Result run(long untilStep, TrainLog log, Progress progress, Checkpointer checkpointer, TrainerStop stop) {
        long end = Math.min(untilStep, config.steps());
        long tokensThisRun = 0;
        long startNanos = System.nanoTime();
        double before = secondsBefore;
        double lastVal = Double.NaN;
        Path lastCheckpoint = null;
        long savedAt = -1;
        boolean stopped = false;
        while (step < end) {
            stopping = agreedStop(stop);                  // every rank breaks after the same step
            if (stopping) {
                stopped = true;
                break;
            }
            TrainLog.Step s;
            long overflowsBefore = lossScale == null ? 0 : lossScale.overflows();
            try {
                s = trainStep();
            } catch (TrainingDiverged e) {
                if (onNan == null) throw e;
                onNan.handle(this, e, progress);          // skips the batch or rolls back; throws to stop
                continue;
            }
            tokensThisRun += config.tokensPerStep();
            secondsBefore = before + (System.nanoTime() - startNanos) / 1e9;
            s = new TrainLog.Step(s.step(), s.loss(), s.lr(), s.weightDecay(), s.gradNorm(), s.tokens(), secondsBefore);
            if (log != null) log.write(s);
            if (lossScale != null && lossScale.overflows() > overflowsBefore) {
                long retried = lossScale.overflows() - overflowsBefore;
                if (log != null) log.writeOverflow(step, retried, lossScale.overflows(), lossScale.scale());
                if (progress != null)
                    progress.message(String.format(Locale.ROOT, "step %d: fp16 gradients overflowed, run again %d time(s) at a lower loss scale, now %.0f (%d overflows so far)",
                            step, retried, lossScale.scale(), lossScale.overflows()));
            }
            if (progress != null) progress.update(step, s.loss(), tokensThisRun, s.lr());
            if (config.evalEvery() > 0 && !validation.isEmpty() && (step % config.evalEvery() == 0 || step == config.steps())) {
                lastVal = validationLoss();
                if (log != null) log.write(new TrainLog.Validation(step, lastVal, step * config.tokensPerStep()));
                if (progress != null)
                    progress.message(String.format(Locale.ROOT, "step %d: validation loss %.4f (perplexity %.2f)", step, lastVal, Math.exp(lastVal)));
            }
            if (checkpointer != null && ((config.saveEvery() > 0 && step % config.saveEvery() == 0) || step == config.steps())) {
                lastCheckpoint = save(checkpointer, progress);
                savedAt = step;
            }
        }
        if (checkpointer != null && savedAt != step && (stopped || step == end) && step > 0) {
            lastCheckpoint = save(checkpointer, progress);
        }
        return new Result(step, stopped, lastVal, lastCheckpoint);
    }

    private Path save(Checkpointer checkpointer, Progress progress) {
        try {
            Path dir = checkpointer.save(this);
            if (progress != null && dir != null) progress.message("step " + step + ": checkpoint saved in " + dir);   // null: a follower rank
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save the checkpoint of step " + step + ": " + e.getMessage(), e);
        }
    }

    /**
     * One optimizer step over config.accum() micro-batches, without logging, validation or checkpoints;
     * returns its log record (seconds unset). {@link #run} is the loop around it.
     */
    public TrainLog.Step trainStep() {
        long s = step;                                    // 0-based index of this update
        long number = s + 1;                              // its 1-based number, as logged
        int accum = config.accum();
        List<Batch> batches = new java.util.ArrayList<>(accum);
        for (int a = 0; a < accum; a++) batches.add(sampler.next());
        for (int attempt = 0; ; attempt++) {
            float scale = lossScale == null ? 1f : lossScale.scale();      // fp16: the loss gradient scaled up
            double[] replayed = replayed(batches, scale);                   // {loss sum, gradient norm}, or null
            double sum = 0;
            if (replayed != null) {
                sum = replayed[0];
            } else {
                optimizer.zeroGrad();
                for (int a = 0; a < accum; a++) {
                    Batch b = batches.get(a);
                    if (sync != null && a % sync.ranks() != sync.rank()) continue;      // another rank's micro-batch
                    try (Tape tape = new Tape(backend)) {
                        sum += model.loss(tape, b.inputs(), b.targets(), b.rows(), b.seqLen(), scale / accum);
                        tape.backward();
                    }
                }
            }
            if (sync != null) {
                sum = sync.sum(sum);
                optimizer.combineGradients(sync);
            }
            Fault.afterBackward(number, model.parameters());  // -Dtern.inject.nan (tests); nothing otherwise
            float loss = (float) (sum / accum);
            if (!Float.isFinite(loss)) throw new TrainingDiverged(number, "the loss is " + loss, firstBadGradient());
            double norm = replayed != null ? replayed[1] : gradNorm();
            if (lossScale != null && !Double.isFinite(norm) && attempt < LossScale.MAX_RETRIES) {
                lossScale.overflowed();                       // the same micro-batches again at half the scale
                continue;
            }
            if (!Double.isFinite(norm)) {
                String bad = firstBadGradient();
                throw new TrainingDiverged(number, "the gradient norm is " + norm, bad);
            }
            norm /= scale;                                    // the unscaled norm: clipped and logged as without scaling
            double lr = schedule.lr(s), wd = schedule.weightDecay(s);
            optimizer.update((float) lr, (float) wd, AdamW.clipScale(norm, config.clip()) / scale);
            if (lossScale != null) lossScale.applied();
            step = number;
            return new TrainLog.Step(number, loss, lr, wd, norm, number * config.tokensPerStep(), 0);
        }
    }

    /**
     * The eager attempt's zeroing, micro-batches and norm as one replayed graph: {the sum of the micro-batch
     * losses, added in order as the eager loop adds them, the gradient norm}, or null when the graph did not
     * run the step (no graph, the first step of a shape, a step that differs from the captured one, a NaN
     * about to be injected), and the caller runs it eagerly.
     */
    private double[] replayed(List<Batch> batches, float scale) {
        if (replay == null || sync != null || Fault.armed()) return null;
        int accum = batches.size();
        java.util.function.DoubleSupplier[] losses = new java.util.function.DoubleSupplier[accum];
        java.util.function.DoubleSupplier[] norm = new java.util.function.DoubleSupplier[1];
        boolean ran = replay.run(() -> {
            optimizer.zeroGrad();
            for (int a = 0; a < accum; a++) {
                Batch b = batches.get(a);
                try (Tape tape = new Tape(backend)) {
                    losses[a] = model.lossLater(tape, b.inputs(), b.targets(), b.rows(), b.seqLen(), scale / accum);
                    tape.backward();
                }
            }
            norm[0] = optimizer.gradNormLater();
        });
        if (!ran) return null;
        double sum = 0;
        for (java.util.function.DoubleSupplier l : losses) sum += (float) l.getAsDouble();
        return new double[] {sum, norm[0].getAsDouble()};
    }

    /**
     * The whole model's gradient norm. Under tensor parallelism each rank holds a slice of the block linears
     * and the same replicated parameters: the slices' squares are summed over the tensor group, the
     * replicated ones counted once.
     */
    private double gradNorm() {
        tern.model.TensorParallel tp = model.tensorParallel();
        if (tp.ranks() == 1) return optimizer.gradNorm();
        double replicated = optimizer.gradSquares(p -> tern.model.TensorParallel.axisOf(p.name) == null);
        double sliced = tp.group().sum(optimizer.gradSquares(p -> tern.model.TensorParallel.axisOf(p.name) != null));
        return Math.sqrt(replicated + sliced);
    }

    /** fp16 gradient overflows so far (steps run again at a lower loss scale); 0 without fp16. */
    public long fp16Overflows() { return lossScale == null ? 0 : lossScale.overflows(); }

    /** The first parameter, in Hugging Face order, whose gradient is not all finite; null if none. */
    private String firstBadGradient() {
        for (Parameter p : model.parameters())
            if (!backend.allFinite(p.grad)) return p.name;
        return null;
    }

    /** Mean loss per predicted token over the fixed validation batches (no gradients). */
    public double validationLoss() {
        double sum = 0;
        long tokens = 0;
        for (Batch b : validation) {
            try (Tape tape = new Tape(backend, false)) {
                float l = model.loss(tape, b.inputs(), b.targets(), b.rows(), b.seqLen(), 1f);
                long n = (long) b.rows() * b.seqLen();
                sum += (double) l * n;
                tokens += n;
            }
        }
        return tokens == 0 ? Double.NaN : sum / tokens;
    }
}
