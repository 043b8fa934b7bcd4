package tern.train;

import java.util.Locale;
import tern.model.LinearPolicy;
import tern.model.Precision;

/**
 * The block precision of a run as a pure function of the step: trained in {@code before} until the update
 * with 0-based index {@code switchAt}, from there in {@code after} (phased in over {@link PhaseIn}), with
 * the AdamW moments kept or reset at the switch; activations and keys/values fake-quantized to k bits
 * throughout when asked (0 = off). With {@code after} null there is no switch (plain float, ternary or
 * k-bit training). Because nothing here depends on history, a resumed run recomputes the same precision
 * from the checkpoint's step and its config's {@link PrecisionPlan} ({@link PrecisionPlan#resolve} makes this).
 *
 * @param switchAt index of the first update trained in {@code after} (0 = from scratch); ignored without a switch
 */
public record PrecisionSwitch(LinearPolicy before, LinearPolicy after, long switchAt, boolean resetOptimizer,
                              PhaseIn phaseIn, int activationBits, int kvBits) {

    /** Where runs of an earlier Tern kept their plan beside the config; read once when such a run resumes. */
    public static final String LEGACY_FILE = "precision_switch.json";

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

    /** Adam's own step count after {@code step} updates: restarted by a reset at the switch. */
    public long optimizerStepAt(long step) {
        return switches() && resetOptimizer && step > switchAt ? step - switchAt : step;
    }

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
}
