package tern.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import tern.model.LlamaConfig;
import tern.simd.CpuBackend;

/**
 * {@code tern train} with a precision plan: {@code --switch-to ternary --switch-at STEP|FRACTION
 * [--reset-optimizer] [--phase-in STEPS]}, {@code --weight-bits K --act-bits K --kv-bits K}, {@code --init DIR},
 * and {@code --resume} of such a run. The train command hands these over here so that its own path stays
 * as it is; the run itself is a {@link PrecisionSwitchRun}.
 */
public final class PrecisionSwitchTraining {
    private PrecisionSwitchTraining() {}

    /**
     * @param settings  train settings (config file and flags merged; keys as in {@link TrainConfig#KEYS})
     * @param precision precision settings (keys as in {@link PrecisionSwitch#KEYS}, "precision" excepted: it
     *                  is the train setting)
     * @param resume    a run folder to continue, or null for a fresh run
     * @param init      a checkpoint to start from, or null
     * @return the exit status
     * @throws IllegalArgumentException for bad settings (the caller reports it as a usage error)
     */
    public static int run(Map<String, Object> settings, Map<String, Object> precision, Path resume, Path init, long stopAfter,
                          PrintStream out) throws IOException {
        CpuBackend backend = new CpuBackend();
        PrecisionSwitchRun run;
        if (resume != null) {
            if (!precision.isEmpty() || init != null)
                throw new IllegalArgumentException("a resumed run keeps its precision plan and initialization (precision_switch.json); drop "
                        + String.join(", ", precision.keySet()) + (init != null ? " --init" : ""));
            run = PrecisionSwitchRun.resume(resume, settings, backend);
        } else {
            Map<String, Object> s = new LinkedHashMap<>(settings);
            if (precision.containsKey("weight_bits") && !s.containsKey("precision")) s.put("precision", "float");
            TrainConfig config = TrainConfig.resolve(s);
            Map<String, Object> p = new LinkedHashMap<>(precision);
            p.put("precision", config.precision());
            PrecisionSwitch plan = PrecisionSwitch.fromSettings(p, config.steps(), LlamaConfig.preset(config.preset()).modelParallel());
            run = PrecisionSwitchRun.start(config, plan, null, init, backend);
        }
        try (run) {
            TrainConfig c = run.config();
            Trainer trainer = run.trainer();
            out.printf(Locale.ROOT, "%s: %s%n", run.plan().describe(), run.model().config().describe());
            out.printf(Locale.ROOT, "data %s: %,d tokens per step (%d×%d×%d); schedule %s, lr %.2e → %.2e, warmup %d (runs on across the switch); %s from step %d to %d%n",
                    run.data().dir(), c.tokensPerStep(), c.batch(), c.seq(), c.accum(), c.schedule(), c.lr(), c.minLr(), c.warmup(),
                    trainer.step() > 0 ? "resuming" : "training", trainer.step(), c.steps());
            if (init != null) out.println("initialized from " + init);
            TrainerStop stop = new TrainerStop().onShutdown();
            long until = stopAfter == Long.MAX_VALUE ? c.steps() : Math.min(c.steps(), trainer.step() + stopAfter);
            try {
                Trainer.Result r = run.run(until, stop, out);
                if (r.step() < c.steps()) out.println("paused at step " + r.step() + "; continue with: tern train --resume " + run.out());
                else out.println("done: " + r.step() + " steps; checkpoint " + r.lastCheckpoint() + ", log " + run.log().file());
                return 0;
            } catch (TrainingDiverged e) {
                System.err.println("tern train: " + e.getMessage() + "; the last good checkpoint is in " + run.out().resolve(TrainCheckpoint.FOLDER));
                return 1;
            } finally {
                stop.finished();
            }
        }
    }
}
