package tern.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tern.model.LinearPolicy;
import tern.model.Precision;
import tern.runtime.Granularity;

/**
 * The precision a run trains in, as a typed part of its {@link TrainConfig}: a starting block policy (float,
 * ternary, binary, or k-bit integers per output channel), optionally a switch to another policy (continual
 * QAT: at a step or a fraction of the run, the AdamW moments kept or reset, quantization phased in over some
 * steps), and k-bit fake quantization of activations and keys/values throughout (0 = off).
 *
 * <p>The plan is what the user asked for; {@link #resolve} turns it into the {@link PrecisionSwitch} of a
 * run of a given length (a pure function of the step). A switch given as a fraction stays a fraction here,
 * so the config says what was asked; {@link #pinned} fixes it to its step when a resumed run changes its
 * length (the trajectory already trained must not move).
 *
 * <p>JSON keys (train settings, flags with '-' for '_'): {@code precision} (the starting policy's label:
 * float, ternary, binary, int&lt;k&gt;-row), {@code weight_bits} (shorthand for int&lt;k&gt;-row; 16 = float),
 * {@code switch_to}, {@code switch_at} (a whole number: a step; with a point: a fraction), {@code
 * reset_optimizer}, {@code phase_in}, {@code act_bits}, {@code kv_bits}.
 */
public record PrecisionPlan(LinearPolicy start, Switch change, int activationBits, int kvBits) {

    public static final List<String> KEYS = List.of(
            "precision", "weight_bits", "switch_to", "switch_at", "reset_optimizer", "phase_in", "act_bits", "kv_bits");

    /** The starting policies a preset has a recipe for; k-bit runs use the float recipe. */
    public static final List<String> RECIPES = List.of("float", "ternary", "binary");

    /** Where the switch happens: a step, or a fraction of the run. */
    public sealed interface SwitchPoint {
        /** The 0-based index of the first update in the new policy, for a run of {@code totalSteps}. */
        long step(long totalSteps);

        /** As JSON: a whole number (a step) or a number with a point (a fraction). */
        Object json();
    }

    public record AtStep(long step) implements SwitchPoint {
        public AtStep {
            if (step < 0) throw new IllegalArgumentException("train setting 'switch_at' must not be negative, got " + step);
        }

        @Override public long step(long totalSteps) { return step; }
        @Override public Object json() { return step; }
    }

    public record AtFraction(double fraction) implements SwitchPoint {
        public AtFraction {
            if (!(fraction >= 0 && fraction <= 1))
                throw new IllegalArgumentException("train setting 'switch_at' as a fraction must be in [0, 1], got " + fraction);
        }

        @Override public long step(long totalSteps) { return Math.round(fraction * totalSteps); }
        @Override public Object json() { return fraction; }
    }

    /** A change of policy during the run. */
    public record Switch(LinearPolicy to, SwitchPoint at, boolean resetOptimizer, PhaseIn phaseIn) {
        public Switch {
            if (to == null) throw new IllegalArgumentException("train setting 'switch_to' is null");
            if (at == null) throw new IllegalArgumentException("a switch to " + to.label() + " needs switch_at (a step or a fraction of the run)");
            if (phaseIn == null) phaseIn = PhaseIn.NONE;
        }
    }

    public PrecisionPlan {
        if (start == null) throw new IllegalArgumentException("train setting 'precision' is null");
        new Precision(start, 1f, activationBits, kvBits);        // validates the bit widths with their names
    }

    /** One policy throughout, no activation or KV quantization. */
    public static PrecisionPlan constant(LinearPolicy policy) { return new PrecisionPlan(policy, null, 0, 0); }

    public boolean switches() { return change != null; }

    /** The policy the run ends in. */
    public LinearPolicy last() { return switches() ? change.to() : start; }

    /** The preset recipe (learning rate, schedule) this plan trains with: its start for float/ternary/binary, else float's. */
    public String recipe() {
        String label = start.label();
        return RECIPES.contains(label) ? label : "float";
    }

    /** The schedule of precisions of a run of {@code totalSteps} updates. */
    public PrecisionSwitch resolve(long totalSteps) {
        if (!switches()) return PrecisionSwitch.constant(start, activationBits, kvBits);
        long at = change.at().step(totalSteps);
        if (at > totalSteps)
            throw new IllegalArgumentException("train setting 'switch_at': step " + at + " is outside the run's 0.." + totalSteps + " updates");
        return new PrecisionSwitch(start, change.to(), at, change.resetOptimizer(), change.phaseIn(), activationBits, kvBits);
    }

    /** This plan with a fractional switch point fixed to its step in a run of {@code totalSteps}. */
    public PrecisionPlan pinned(long totalSteps) {
        if (!switches() || change.at() instanceof AtStep) return this;
        return new PrecisionPlan(start, new Switch(change.to(), new AtStep(change.at().step(totalSteps)), change.resetOptimizer(), change.phaseIn()),
                activationBits, kvBits);
    }

    /** Ternary policies of {@code shards} scales per matrix (the model-parallel degree of the shape trained). */
    public PrecisionPlan withTernaryShards(int shards) {
        return new PrecisionPlan(shard(start, shards),
                switches() ? new Switch(shard(change.to(), shards), change.at(), change.resetOptimizer(), change.phaseIn()) : null,
                activationBits, kvBits);
    }

    private static LinearPolicy shard(LinearPolicy p, int shards) {
        return p instanceof LinearPolicy.Ternary ? new LinearPolicy.Ternary(shards) : p;
    }

    // ---- JSON -----------------------------------------------------------------------------------------------

    /** True for a key of this plan (not of the rest of the train config). */
    public static boolean isKey(String key) { return KEYS.contains(key); }

    /**
     * The plan from settings (keys as in {@link #KEYS}, values as JSON gives them or as flag strings); absent
     * keys take their defaults, "precision" ternary. {@code shards}: the ternary scales per matrix.
     */
    public static PrecisionPlan fromSettings(Map<String, ?> s, int shards) {
        for (String k : s.keySet())
            if (!KEYS.contains(k)) throw new IllegalArgumentException("unknown precision setting '" + k + "' (known: " + String.join(", ", KEYS) + ")");
        LinearPolicy start = policy(s, "precision", "ternary", shards);
        int weightBits = whole(s, "weight_bits", 0);
        if (weightBits != 0) {
            if (s.get("precision") != null && start.quantized() && !(start instanceof LinearPolicy.Int(int b, var g) && b == weightBits))
                throw new IllegalArgumentException("train settings 'weight_bits' " + weightBits + " and 'precision' " + start.label() + " contradict each other");
            start = weightBits == 16 ? LinearPolicy.FLOAT : new LinearPolicy.Int(weightBits, Granularity.ROW);
        }
        Switch change = null;
        if (s.get("switch_to") != null) {
            change = new Switch(policy(s, "switch_to", null, shards), point(s.get("switch_at")),
                    flag(s, "reset_optimizer"), new PhaseIn(whole(s, "phase_in", 0)));
        } else if (s.get("switch_at") != null || s.get("phase_in") != null || s.get("reset_optimizer") != null && flag(s, "reset_optimizer")) {
            throw new IllegalArgumentException("train settings switch_at, phase_in and reset_optimizer need switch_to");
        }
        return new PrecisionPlan(start, change, whole(s, "act_bits", 0), whole(s, "kv_bits", 0));
    }

    /** The plan's settings by key: every key of a switch only when there is one; weight_bits folded into precision. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("precision", start.label());
        if (switches()) {
            m.put("switch_to", change.to().label());
            m.put("switch_at", change.at().json());
            m.put("reset_optimizer", change.resetOptimizer());
            m.put("phase_in", change.phaseIn().steps());
        }
        m.put("act_bits", activationBits);
        m.put("kv_bits", kvBits);
        return m;
    }

    /** One line for logs: "float → ternary at step 150 (optimizer kept, phase-in 20 steps), activations 8-bit". */
    public String describe(long totalSteps) { return resolve(totalSteps).describe(); }

    private static LinearPolicy policy(Map<String, ?> s, String key, String fallback, int shards) {
        Object v = s.get(key);
        String label = v == null ? fallback : String.valueOf(v);
        try {
            return LinearPolicy.parse(label, shards);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("train setting '" + key + "': " + e.getMessage(), e);
        }
    }

    private static SwitchPoint point(Object v) {
        if (v == null) throw new IllegalArgumentException("train setting 'switch_to' needs switch_at (a step or a fraction of the run)");
        if (v instanceof Long || v instanceof Integer) return new AtStep(((Number) v).longValue());
        if (v instanceof Double d) return new AtFraction(d);
        String t = String.valueOf(v).strip();
        try {
            if (t.contains(".") || t.contains("e") || t.contains("E")) return new AtFraction(Double.parseDouble(t));
            return new AtStep(Long.parseLong(t.replace("_", "")));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("train setting 'switch_at' '" + v + "' is neither a step nor a fraction of the run");
        }
    }

    private static boolean flag(Map<String, ?> s, String key) {
        Object v = s.get(key);
        if (v == null) return false;
        if (v instanceof Boolean b) return b;
        String t = String.valueOf(v).strip().toLowerCase(Locale.ROOT);
        if (t.equals("true")) return true;
        if (t.equals("false")) return false;
        throw new IllegalArgumentException("train setting '" + key + "' must be true or false, got '" + v + "'");
    }

    private static int whole(Map<String, ?> m, String key, int fallback) {
        Object v = m.get(key);
        if (v == null) return fallback;
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && Math.abs(n.doubleValue()) < Integer.MAX_VALUE) return n.intValue();
        try {
            return Integer.parseInt(String.valueOf(v).strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("train setting '" + key + "' must be a whole number, got '" + v + "'");
        }
    }
}
