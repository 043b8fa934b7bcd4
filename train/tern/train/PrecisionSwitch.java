package tern.train;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import tern.model.LinearPolicy;
import tern.model.Precision;
import tern.runtime.Granularity;

/**
 * The block precision of a run as a pure function of the step: trained in {@code before} until the update
 * with 0-based index {@code switchAt}, from there in {@code after} (phased in over {@link PhaseIn}), with
 * the AdamW moments kept or reset at the switch; activations and keys/values fake-quantized to k bits
 * throughout when asked (0 = off). With {@code after} null there is no switch (plain float, ternary or
 * k-bit training). Because nothing here depends on history, a resumed run recomputes the same precision
 * from the checkpoint's step and these settings ({@link #toMap} is stored beside the run).
 *
 * @param switchAt index of the first update trained in {@code after} (0 = from scratch); ignored without a switch
 */
public record PrecisionSwitch(LinearPolicy before, LinearPolicy after, long switchAt, boolean resetOptimizer,
                              PhaseIn phaseIn, int activationBits, int kvBits) {

    public static final String FILE = "precision_switch.json";

    public PrecisionSwitch {
        if (before == null) throw new IllegalArgumentException("precision switch: the starting policy is null");
        if (phaseIn == null) phaseIn = PhaseIn.NONE;
        if (switchAt < 0) throw new IllegalArgumentException("switch step must not be negative, got " + switchAt);
        new Precision(before, 1f, activationBits, kvBits);     // validates the bit widths with their names
    }

    /** Training in one policy throughout (no switch). */
    public static PrecisionSwitch constant(LinearPolicy policy, int activationBits, int kvBits) {
        return new PrecisionSwitch(policy, null, 0, false, PhaseIn.NONE, activationBits, kvBits);
    }

    public boolean switches() { return after != null; }

    /** The block precision of the update with 0-based index {@code step}. */
    public Precision precisionAt(long step) {
        if (!switches() || step < switchAt) return new Precision(before, 1f, activationBits, kvBits);
        return new Precision(after, phaseIn.lambda(step - switchAt), activationBits, kvBits);
    }

    /** True when the optimizer's moments are zeroed right before the update with index {@code step}. */
    public boolean resetsAt(long step) { return switches() && resetOptimizer && step == switchAt; }

    /**
     * The first update index after {@code step} at which {@link #precisionAt} may differ from its value at
     * {@code step} (the switch, then every update of the phase-in); Long.MAX_VALUE when it never changes again.
     */
    public long nextChange(long step) {
        if (!switches()) return Long.MAX_VALUE;
        if (step < switchAt) return switchAt;
        if (step - switchAt < phaseIn.steps()) return step + 1;
        return Long.MAX_VALUE;
    }

    /**
     * A switch step given as a whole number of updates ("150") or as a fraction of the run ("0.25" of
     * {@code totalSteps}, rounded to the nearest update).
     */
    public static long resolveStep(String text, long totalSteps) {
        String s = text.strip();
        try {
            if (s.contains(".") || s.contains("e") || s.contains("E")) {
                double f = Double.parseDouble(s);
                if (!(f >= 0 && f <= 1))
                    throw new IllegalArgumentException("switch point '" + text + "' as a fraction must be in [0, 1]");
                return Math.round(f * totalSteps);
            }
            long v = Long.parseLong(s.replace("_", ""));
            if (v < 0 || v > totalSteps)
                throw new IllegalArgumentException("switch step " + v + " is outside the run's 0.." + totalSteps + " updates");
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("switch point '" + text + "' is neither a step nor a fraction of the run");
        }
    }

    /**
     * The plan from the settings a run is started with (flags or a sweep's grid entry), keys as in {@link #KEYS}:
     * {@code precision} (the starting policy: float, ternary, binary, int&lt;k&gt;[-row]), {@code weight_bits}
     * (k-bit integer weights, per output channel: overrides the starting policy), {@code switch_to},
     * {@code switch_at} (step or fraction), {@code reset_optimizer}, {@code phase_in}, {@code act_bits},
     * {@code kv_bits}.
     */
    public static PrecisionSwitch fromSettings(Map<String, ?> s, long totalSteps, int ternaryShards) {
        for (String k : s.keySet())
            if (!KEYS.contains(k)) throw new IllegalArgumentException("unknown precision setting '" + k + "' (known: " + String.join(", ", KEYS) + ")");
        LinearPolicy before = LinearPolicy.parse(text(s, "precision", "float"), ternaryShards);
        int weightBits = whole(s, "weight_bits", 0);
        if (weightBits != 0) {
            if (weightBits == 16) before = LinearPolicy.FLOAT;           // 16-bit weights are the float model
            else before = new LinearPolicy.Int(weightBits, Granularity.ROW);
        }
        LinearPolicy after = s.get("switch_to") == null ? null : LinearPolicy.parse(text(s, "switch_to", null), ternaryShards);
        long at = 0;
        if (after != null) {
            Object v = s.get("switch_at");
            if (v == null) throw new IllegalArgumentException("a switch to " + after.label() + " needs switch_at (a step or a fraction of the run)");
            at = resolveStep(String.valueOf(v), totalSteps);
        } else if (s.get("switch_at") != null || s.get("phase_in") != null || s.get("reset_optimizer") != null) {
            throw new IllegalArgumentException("switch_at, phase_in and reset_optimizer need switch_to");
        }
        boolean reset = Boolean.parseBoolean(String.valueOf(s.get("reset_optimizer") == null ? "false" : s.get("reset_optimizer")));
        return new PrecisionSwitch(before, after, at, reset, new PhaseIn(whole(s, "phase_in", 0)),
                whole(s, "act_bits", 0), whole(s, "kv_bits", 0));
    }

    public static final java.util.List<String> KEYS = java.util.List.of(
            "precision", "weight_bits", "switch_to", "switch_at", "reset_optimizer", "phase_in", "act_bits", "kv_bits");

    /** The resolved plan as JSON (switch_at as a step), readable by {@link #fromMap}. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("precision", before.label());
        if (switches()) {
            m.put("switch_to", after.label());
            m.put("switch_at", switchAt);
            m.put("reset_optimizer", resetOptimizer);
            m.put("phase_in", phaseIn.steps());
        }
        m.put("act_bits", activationBits);
        m.put("kv_bits", kvBits);
        return m;
    }

    public static PrecisionSwitch fromMap(Map<String, ?> m, int ternaryShards) {
        Map<String, Object> s = new LinkedHashMap<>(m);
        long at = s.get("switch_at") instanceof Number n ? n.longValue() : 0;
        s.put("switch_at", s.containsKey("switch_to") ? Long.toString(at) : null);
        if (!s.containsKey("switch_to")) {
            s.remove("switch_at");
            s.remove("reset_optimizer");
            s.remove("phase_in");
        }
        return fromSettings(s, Long.MAX_VALUE, ternaryShards);
    }

    /** One line for logs: "float → ternary at step 150 (optimizer kept, phase-in 20 steps), activations 8-bit". */
    public String describe() {
        StringBuilder b = new StringBuilder(before.label());
        if (switches())
            b.append(String.format(Locale.ROOT, " → %s at step %d (optimizer %s, %s)", after.label(), switchAt,
                    resetOptimizer ? "reset" : "kept", phaseIn.steps() == 0 ? "no phase-in" : "phase-in " + phaseIn.steps() + " steps"));
        if (activationBits != 0) b.append(", activations ").append(activationBits).append("-bit");
        if (kvBits != 0) b.append(", KV ").append(kvBits).append("-bit");
        return b.toString();
    }

    private static String text(Map<String, ?> m, String key, String fallback) {
        Object v = m.get(key);
        return v == null ? fallback : String.valueOf(v);
    }

    private static int whole(Map<String, ?> m, String key, int fallback) {
        Object v = m.get(key);
        if (v == null) return fallback;
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) return n.intValue();
        try {
            return Integer.parseInt(String.valueOf(v).strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("precision setting '" + key + "' must be a whole number, got '" + v + "'");
        }
    }
}
