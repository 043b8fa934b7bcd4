package tern.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tern.checkpoint.Json;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.runtime.Backend;

/**
 * Runs a {@link SweepGrid} one run after another, each in {@code OUT/NAME}. Resumable at run granularity and
 * within a run: a run whose {@code result.json} exists is skipped; one with checkpoints continues from the
 * latest; the others start fresh. {@code result.json} is what the scaling-law fits read: the model's size,
 * its precision, the tokens seen and every validation loss of the run.
 */
public final class Sweep {
    public static final String RESULT = "result.json";

    private Sweep() {}

    /** Runs (or skips) every run of the grid; returns the results in grid order. */
    public static List<Map<String, Object>> run(SweepGrid grid, Backend backend, PrintStream console, TrainerStop stop) throws IOException {
        if (grid.data() == null) throw new IllegalArgumentException("the grid names no \"data\" folder (token shards from tern prepare)");
        if (grid.out() == null) throw new IllegalArgumentException("the grid names no \"out\" folder for its runs");
        List<Map<String, Object>> results = new ArrayList<>();
        int i = 0;
        for (SweepGrid.Entry e : grid.runs()) {
            i++;
            if (stop != null && stop.requested()) break;
            Path dir = Path.of(grid.out(), e.name());
            Path result = dir.resolve(RESULT);
            if (Files.isRegularFile(result)) {
                console.printf(Locale.ROOT, "[%d/%d] %s: finished earlier, skipped%n", i, grid.runs().size(), e.name());
                results.add(Json.parseObject(Files.readString(result)));
                continue;
            }
            long t0 = System.nanoTime();
            try (TrainRun run = open(grid, e, dir, backend)) {
                console.printf(Locale.ROOT, "[%d/%d] %s: %s, %s, %d steps of %d tokens%s%n", i, grid.runs().size(), e.name(),
                        run.model().config().describe(), run.schedule().describe(), run.config().steps(), run.config().tokensPerStep(),
                        run.trainer().step() > 0 ? ", resuming at step " + run.trainer().step() : "");
                Trainer.Result r = run.run(run.config().steps(), null, stop, console);
                if (r.step() < run.config().steps()) {
                    console.printf(Locale.ROOT, "%s: stopped at step %d; run the sweep again to continue%n", e.name(), r.step());
                    break;
                }
                Map<String, Object> res = result(e.name(), run);
                Files.writeString(result, Json.pretty(res));
                results.add(res);
                console.printf(Locale.ROOT, "[%d/%d] %s: final validation loss %.4f in %.0f s%n", i, grid.runs().size(), e.name(),
                        ((Number) res.get("final_val_loss")).doubleValue(), (System.nanoTime() - t0) / 1e9);
            }
        }
        return results;
    }

    private static TrainRun open(SweepGrid grid, SweepGrid.Entry e, Path dir, Backend backend) throws IOException {
        if (hasCheckpoint(dir)) return TrainRun.resume(dir, Map.of(), backend);
        Map<String, Object> settings = new LinkedHashMap<>(e.settings());
        settings.put("data", grid.data());
        settings.put("out", dir.toString());
        return TrainRun.start(TrainConfig.resolve(settings), backend);
    }

    private static boolean hasCheckpoint(Path dir) {
        if (!Files.isDirectory(dir.resolve(TrainCheckpoint.FOLDER))) return false;
        try {
            TrainCheckpoint.find(dir);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** What a finished run contributes to the fits. */
    static Map<String, Object> result(String name, TrainRun run) throws IOException {
        LlamaConfig shape = run.model().config();
        PrecisionSwitch plan = run.schedule();
        LinearPolicy last = plan.switches() ? plan.after() : plan.before();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("preset", run.config().preset());
        m.put("hidden", shape.hidden());
        m.put("intermediate", shape.intermediate());
        m.put("layers", shape.layers());
        m.put("heads", shape.heads());
        m.put("vocab", shape.vocabSize());
        m.put("non_embedding_params", shape.linearParameters());
        m.put("params", shape.parameterCount());
        m.put("precision", run.config().precision().pinned(run.config().steps()).toMap());
        m.put("weight_bits", weightBits(last));
        m.put("act_bits", plan.activationBits() == 0 ? 16 : plan.activationBits());
        m.put("kv_bits", plan.kvBits() == 0 ? 16 : plan.kvBits());
        m.put("model_bits", shape.modelBits(last, false));
        m.put("steps", run.config().steps());
        m.put("tokens", run.config().steps() * run.config().tokensPerStep());
        m.put("lr", run.config().lr());
        m.put("schedule", run.config().schedule());
        List<TrainLog.Validation> vals = TrainLog.readValidations(run.log().file());
        List<Object> curve = new ArrayList<>();
        for (TrainLog.Validation v : vals) curve.add(List.of(v.step(), v.tokens(), v.loss()));
        m.put("val_curve", curve);
        m.put("final_val_loss", vals.isEmpty() ? Double.NaN : vals.getLast().loss());
        m.put("seconds", Math.round(run.trainer().seconds() * 10) / 10.0);
        Path sw = run.out().resolve(TrainRun.SWITCH_LOG);
        if (Files.isRegularFile(sw)) m.put("switch", Json.parseObject(Files.readString(sw)));
        return m;
    }

    /** Bits per weight of a policy as the precision law counts them (ternary log2 3 ≈ 1.58, float 16). */
    public static double weightBits(LinearPolicy p) {
        return switch (p) {
            case LinearPolicy.Float f -> 16.0;
            case LinearPolicy.Ternary t -> Math.log(3) / Math.log(2);
            case LinearPolicy.Binary b -> 1.0;
            case LinearPolicy.Int(int bits, var g) -> bits;
        };
    }
}
