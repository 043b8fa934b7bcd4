package tern.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tern.runtime.Schedule;

/**
 * Everything that decides a training run, in one immutable record: the model preset and precision, the
 * data and output folders, the batch geometry, the optimizer and schedule hyperparameters, and the
 * bookkeeping cadence. It is saved whole in every checkpoint, so a resumed run continues with exactly
 * these values.
 *
 * <p>Values come in three layers, later ones winning: the preset's defaults ({@link TrainConfigDefaults}),
 * a JSON config file, and command-line flags. {@link #resolve} merges them and validates the result; a
 * bad value is an {@link IllegalArgumentException} naming the setting.
 *
 * @param precision   the block precision over the run (a constant policy, or a switch; k-bit activations and KV)
 * @param shape       hidden, intermediate, layers and heads replacing the preset's (0: the preset's)
 * @param batch       sequences per micro-batch
 * @param seq         tokens per sequence
 * @param accum       micro-batches summed into one optimizer step (tokens per step = batch·seq·accum)
 * @param schedule    linear | cosine | spectra | constant
 * @param lrCutRatio  Spectra: the reduced peak as a fraction of {@code lr}
 * @param lrCutAt     Spectra: fraction of training where the peak is reduced
 * @param decayOffAt  Spectra: fraction of training where weight decay stops
 * @param clip        global gradient-norm clip; 0 turns clipping off
 * @param evalEvery   validation every N steps; 0 never (the last step is always evaluated when N &gt; 0)
 * @param saveEvery   a checkpoint every N steps; 0 only at the end
 * @param keep        newest checkpoints kept; 0 keeps all
 * @param checkpointActivations auto, on or off: recompute each block's activations in the backward pass
 *                    instead of keeping them ({@link MemoryPlan}); auto turns it on when the run would not fit
 * @param ternaryShards absmean scales per ternary matrix (Spectra's model-parallel size); 0: the preset's.
 *                    Tensor parallelism over K ranks needs a multiple of K (each rank's slice keeps whole shards)
 */
public record TrainConfig(
        String preset, PrecisionPlan precision, Shape shape, String data, String out,
        long steps, int batch, int seq, int accum,
        double lr, double minLr, long warmup, String schedule,
        double weightDecay, double lrCutRatio, double lrCutAt, double decayOffAt,
        double beta1, double beta2, double eps, double clip,
        long seed, int evalEvery, int evalBatches, int saveEvery, int keep, String checkpointActivations, int ternaryShards) {

    /** The model shape over a preset's: each 0 keeps the preset's value. */
    public record Shape(int hidden, int intermediate, int layers, int heads) {
        public static final Shape PRESET = new Shape(0, 0, 0, 0);
        public static final List<String> KEYS = List.of("hidden", "intermediate", "layers", "heads");

        public Shape {
            for (int v : new int[]{hidden, intermediate, layers, heads})
                if (v < 0) throw new IllegalArgumentException("train setting shape " + List.of(hidden, intermediate, layers, heads) + " has a negative value");
        }

        public boolean isPreset() { return equals(PRESET); }

        /** {@code base} with the dimensions this shape names; a shape that cannot work is an error naming the settings. */
        public tern.model.LlamaConfig apply(tern.model.LlamaConfig base) {
            if (isPreset()) return base;
            try {
                return new tern.model.LlamaConfig(base.vocabSize(), or(hidden, base.hidden()), or(intermediate, base.intermediate()),
                        or(layers, base.layers()), or(heads, base.heads()), base.contextLength(), base.rmsEps(), base.ropeTheta(),
                        base.modelParallel(), base.precision());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("train settings hidden/intermediate/layers/heads: " + e.getMessage(), e);
            }
        }

        private static int or(int v, int fallback) { return v == 0 ? fallback : v; }
    }

    /** The settings' names as they appear in JSON (and, with '-' for '_', as flags). */
    public static final List<String> KEYS = List.of(
            "preset", "precision", "weight_bits", "switch_to", "switch_at", "reset_optimizer", "phase_in", "act_bits", "kv_bits",
            "hidden", "intermediate", "layers", "heads", "data", "out",
            "steps", "batch", "seq", "accum",
            "lr", "min_lr", "warmup", "schedule",
            "weight_decay", "lr_cut_ratio", "lr_cut_at", "decay_off_at",
            "beta1", "beta2", "eps", "clip",
            "seed", "eval_every", "eval_batches", "save_every", "keep", "checkpoint_activations", "ternary_shards");

    /** Settings a config may lack (checkpoints of earlier versions): the plan's and the shape's, at their defaults. */
    private static final List<String> OPTIONAL = List.of(
            "weight_bits", "switch_to", "switch_at", "reset_optimizer", "phase_in", "act_bits", "kv_bits", "hidden", "intermediate", "layers", "heads", "checkpoint_activations",
            "ternary_shards");

    /** The starting precisions a preset has a recipe for (k-bit plans train with float's). */
    public static final List<String> PRECISIONS = PrecisionPlan.RECIPES;
    public static final List<String> SCHEDULES = List.of("linear", "cosine", "spectra", "constant");

    public TrainConfig {
        require(preset != null && !preset.isBlank(), "preset", "must be named");
        require(precision != null, "precision", "must be given");
        if (shape == null) shape = Shape.PRESET;
        require(steps >= 1, "steps", "must be at least 1, got " + steps);
        precision.resolve(steps);                                 // a switch inside the run
        require(batch >= 1, "batch", "must be at least 1, got " + batch);
        require(seq >= 1, "seq", "must be at least 1, got " + seq);
        require(accum >= 1, "accum", "must be at least 1, got " + accum);
        require(lr > 0, "lr", "must be positive, got " + lr);
        require(minLr >= 0 && minLr <= lr, "min_lr", "must be in [0, lr = " + lr + "], got " + minLr);
        require(warmup >= 0 && warmup <= steps, "warmup", "must be in [0, steps = " + steps + "], got " + warmup);
        require(SCHEDULES.contains(schedule), "schedule", "must be one of " + SCHEDULES + ", got '" + schedule + "'");
        require(weightDecay >= 0, "weight_decay", "must not be negative, got " + weightDecay);
        require(lrCutRatio > 0 && lrCutRatio <= 1, "lr_cut_ratio", "must be in (0, 1], got " + lrCutRatio);
        require(lrCutAt >= 0 && lrCutAt <= 1, "lr_cut_at", "must be a fraction in [0, 1], got " + lrCutAt);
        require(decayOffAt >= 0 && decayOffAt <= 1, "decay_off_at", "must be a fraction in [0, 1], got " + decayOffAt);
        require(beta1 >= 0 && beta1 < 1, "beta1", "must be in [0, 1), got " + beta1);
        require(beta2 >= 0 && beta2 < 1, "beta2", "must be in [0, 1), got " + beta2);
        require(eps > 0, "eps", "must be positive, got " + eps);
        require(clip >= 0, "clip", "must not be negative (0 turns clipping off), got " + clip);
        require(evalEvery >= 0, "eval_every", "must not be negative (0 = never), got " + evalEvery);
        require(evalBatches >= 1, "eval_batches", "must be at least 1, got " + evalBatches);
        require(saveEvery >= 0, "save_every", "must not be negative (0 = only at the end), got " + saveEvery);
        require(keep >= 0, "keep", "must not be negative (0 keeps all), got " + keep);
        require(MemoryPlan.CHECKPOINTING.contains(checkpointActivations), "checkpoint_activations",
                "must be one of " + MemoryPlan.CHECKPOINTING + " (auto: when the run would not fit without), got '" + checkpointActivations + "'");
        require(ternaryShards >= 0, "ternary_shards", "must not be negative (0: the preset's model-parallel size), got " + ternaryShards);
        long tokens = (long) batch * seq * accum;
        require(tokens <= Integer.MAX_VALUE, "batch", "batch·seq·accum = " + tokens + " tokens per step is too many");
        shape.apply(tern.model.LlamaConfig.preset(preset).withPrecision(new tern.model.Precision(precision.start(), 1f, 0, 0)));
    }

    /** The plan as a schedule over this run's steps. */
    public PrecisionSwitch precisionSchedule() { return precision.resolve(steps); }

    private static void require(boolean ok, String key, String what) {
        if (!ok) throw new IllegalArgumentException("train setting '" + key + "' " + what);
    }

    /** Tokens consumed by one optimizer step. */
    public long tokensPerStep() { return (long) batch * seq * accum; }

    /** The learning-rate and weight-decay schedule over {@link #steps} (a pure function of the step). */
    public Schedule scheduleFunction() {
        return switch (schedule) {
            case "linear" -> new Schedule.WarmupLinear(lr, minLr, warmup, steps, weightDecay);
            case "cosine" -> new Schedule.Cosine(lr, minLr, warmup, steps, weightDecay);
            case "spectra" -> new Schedule.Spectra(lr, minLr, warmup, steps, weightDecay, lr * lrCutRatio, lrCutAt, decayOffAt);
            case "constant" -> new Schedule.Constant(lr, weightDecay);
            default -> throw new IllegalStateException(schedule);
        };
    }

    // ---- layers: defaults ← file ← flags ---------------------------------------------------------------

    /**
     * The preset's defaults overridden by {@code settings} (a config file's object, then flags, already
     * merged by the caller; keys as in {@link #KEYS}, values as JSON gives them or as strings). Defaults
     * that depend on the run length (warmup, evaluation and checkpoint cadence) follow the given steps.
     */
    public static TrainConfig resolve(Map<String, ?> settings) {
        for (String k : settings.keySet())
            if (!KEYS.contains(k)) throw new IllegalArgumentException("unknown train setting '" + k + "' (known: " + String.join(", ", KEYS) + ")");
        String preset = text(settings, "preset", "tiny");
        Map<String, Object> values = TrainConfigDefaults.forPreset(preset, plan(settings, preset).recipe());
        long steps = settings.containsKey("steps") ? integer(settings, "steps") : integer(values, "steps");
        values.putAll(TrainConfigDefaults.cadence(preset, steps));
        values.putAll(settings);
        return fromMap(values);
    }

    /** Every setting by its JSON name (the training state's "config" object). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", preset);
        m.putAll(precision.toMap());
        if (shape.hidden() > 0) m.put("hidden", shape.hidden());
        if (shape.intermediate() > 0) m.put("intermediate", shape.intermediate());
        if (shape.layers() > 0) m.put("layers", shape.layers());
        if (shape.heads() > 0) m.put("heads", shape.heads());
        m.put("data", data);
        m.put("out", out);
        m.put("steps", steps);
        m.put("batch", batch);
        m.put("seq", seq);
        m.put("accum", accum);
        m.put("lr", lr);
        m.put("min_lr", minLr);
        m.put("warmup", warmup);
        m.put("schedule", schedule);
        m.put("weight_decay", weightDecay);
        m.put("lr_cut_ratio", lrCutRatio);
        m.put("lr_cut_at", lrCutAt);
        m.put("decay_off_at", decayOffAt);
        m.put("beta1", beta1);
        m.put("beta2", beta2);
        m.put("eps", eps);
        m.put("clip", clip);
        m.put("seed", seed);
        m.put("eval_every", evalEvery);
        m.put("eval_batches", evalBatches);
        m.put("save_every", saveEvery);
        m.put("keep", keep);
        m.put("checkpoint_activations", checkpointActivations);
        if (ternaryShards > 0) m.put("ternary_shards", ternaryShards);
        return m;
    }

    /** A config from a complete map (every key of {@link #KEYS} present; data and out may be null). */
    public static TrainConfig fromMap(Map<String, ?> m) {
        for (String k : KEYS)
            if (!m.containsKey(k) && !OPTIONAL.contains(k)) throw new IllegalArgumentException("train config lacks the setting '" + k + "'");
        String preset = text(m, "preset", null);
        Shape shape = new Shape(optionalWhole(m, "hidden"), optionalWhole(m, "intermediate"), optionalWhole(m, "layers"), optionalWhole(m, "heads"));
        return new TrainConfig(
                preset, plan(m, preset), shape, text(m, "data", null), text(m, "out", null),
                integer(m, "steps"), whole(m, "batch"), whole(m, "seq"), whole(m, "accum"),
                real(m, "lr"), real(m, "min_lr"), integer(m, "warmup"), text(m, "schedule", null),
                real(m, "weight_decay"), real(m, "lr_cut_ratio"), real(m, "lr_cut_at"), real(m, "decay_off_at"),
                real(m, "beta1"), real(m, "beta2"), real(m, "eps"), real(m, "clip"),
                integer(m, "seed"), whole(m, "eval_every"), whole(m, "eval_batches"), whole(m, "save_every"), whole(m, "keep"),
                text(m, "checkpoint_activations", "auto"),    // absent from configs written before it existed
                optionalWhole(m, "ternary_shards"));
    }

    /** This config with some settings replaced (keys as in {@link #KEYS}). */
    public TrainConfig with(Map<String, ?> changes) {
        Map<String, Object> m = toMap();
        for (String k : changes.keySet())
            if (!KEYS.contains(k)) throw new IllegalArgumentException("unknown train setting '" + k + "'");
        if (changes.keySet().stream().anyMatch(PrecisionPlan::isKey))
            for (String k : PrecisionPlan.KEYS) m.remove(k);         // a new plan replaces the old one whole
        m.putAll(changes);
        return fromMap(m);
    }

    /** This config with another precision plan. */
    public TrainConfig withPlan(PrecisionPlan plan) {
        Map<String, Object> m = toMap();
        for (String k : PrecisionPlan.KEYS) m.remove(k);
        m.putAll(plan.toMap());
        return fromMap(m);
    }

    /** The same run with its data and run folders replaced. */
    public TrainConfig withFolders(String data, String out) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("data", data);
        m.put("out", out);
        return with(m);
    }

    /**
     * The plan of {@code m}'s precision keys, ternary scales per matrix as {@code ternary_shards} says, else
     * the preset's model-parallel degree.
     */
    private static PrecisionPlan plan(Map<String, ?> m, String preset) {
        Map<String, Object> p = new LinkedHashMap<>();
        for (String k : PrecisionPlan.KEYS) if (m.get(k) != null) p.put(k, m.get(k));
        // an unknown preset is reported by the recipe lookup, with the list of presets
        int shards = preset != null && tern.model.LlamaConfig.presetNames().contains(preset) ? tern.model.LlamaConfig.preset(preset).modelParallel() : 1;
        if (m.get("ternary_shards") != null) {
            int given = whole(m, "ternary_shards");
            if (given > 0) shards = given;
        }
        return PrecisionPlan.fromSettings(p, shards);
    }

    /** Absmean scales per ternary matrix: the setting, else the preset's model-parallel degree. */
    public int ternaryShardsOr(int presetShards) { return ternaryShards > 0 ? ternaryShards : presetShards; }

    private static int optionalWhole(Map<String, ?> m, String key) {
        if (m.get(key) == null) return 0;
        int v = whole(m, key);
        if (v < 1) throw new IllegalArgumentException("train setting '" + key + "' must be a positive whole number, got " + v);
        return v;
    }

    // ---- value conversion: JSON numbers or flag strings ------------------------------------------------

    private static String text(Map<String, ?> m, String key, String fallback) {
        Object v = m.get(key);
        if (v == null) return fallback;
        if (v instanceof String s) return s;
        throw new IllegalArgumentException("train setting '" + key + "' must be a string, got " + v);
    }

    private static long integer(Map<String, ?> m, String key) {
        Object v = m.get(key);
        if (v instanceof Long l) return l;
        if (v instanceof Integer i) return i;
        if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 1e15) return d.longValue();
        if (v instanceof String s) {
            try {
                return Long.parseLong(s.strip().replace("_", ""));
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("train setting '" + key + "' must be a whole number, got '" + v + "'");
    }

    private static int whole(Map<String, ?> m, String key) {
        long v = integer(m, key);
        if (v != (int) v) throw new IllegalArgumentException("train setting '" + key + "' is too large: " + v);
        return (int) v;
    }

    private static double real(Map<String, ?> m, String key) {
        Object v = m.get(key);
        double d = Double.NaN;
        if (v instanceof Number n) d = n.doubleValue();
        else if (v instanceof String s) {
            try {
                d = Double.parseDouble(s.strip());
            } catch (NumberFormatException e) {
                // NaN: reported below
            }
        }
        if (!Double.isFinite(d)) throw new IllegalArgumentException("train setting '" + key + "' must be a number, got '" + v + "'");
        return d;
    }
}
