package tern.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Training hyperparameters that come with each model preset, for FloatLM (precision float) and TriLM
 * (ternary; binary uses the TriLM recipe too, our choice: it is the other low-bit family).
 *
 * <p>What we confirmed about the Spectra recipe (arXiv 2407.12327), and where:
 * <ul>
 *   <li>SPEC.md (from the paper): context 2048; 300B tokens for every model; batch 1M tokens for TriLM and
 *       2M for FloatLM; AdamW β = (0.9, 0.95); linear warmup then linear decay, with weight decay; TriLM:
 *       the peak learning rate is reduced at about half of training and weight decay is removed at about
 *       two thirds. Weight decay 0.1 (SPEC.md §3 gives 0.1; Spectra does not contradict it).</li>
 *   <li>The reduced peaks, from a secondary summary of the paper (the seT6 project's
 *       {@code trit_chinchilla_opt.h}, found with the search tool; the paper's own table could not be
 *       opened from here): TriLM 99M peak 2.4e-3 reduced to 1.5e-3 at the halfway point; TriLM 3.9B peak
 *       1.2e-3 reduced to 8e-4; FloatLM 99M peak 4e-4 (TriLM rates about 6× FloatLM's); warmup 500
 *       steps.</li>
 *   <li>Not confirmed, our choices: peaks of the sizes between 99M and 3.9B are interpolated
 *       log-linearly in parameter count between those two ends, the reduced/peak ratio likewise
 *       (0.625 → 0.667); FloatLM peaks are the TriLM peaks / 6; the learning rate decays linearly to 10%
 *       of the peak (GPT-NeoX's usual min_lr); gradient clip 1.0 and Adam ε 1e-8 (GPT-NeoX defaults); a
 *       micro-batch of 8 sequences with gradient accumulation making up the token batch.</li>
 * </ul>
 * The small presets ("tiny", "golden", "10M") are ours, sized for a 2-core CPU: short sequences, a
 * higher learning rate (small models tolerate it, and a few hundred steps must visibly learn).
 */
public final class TrainConfigDefaults {
    private TrainConfigDefaults() {}

    /** Spectra sizes and their parameter counts (SpectraSuite README). */
    private static final Map<String, Double> SPECTRA_PARAMS = new LinkedHashMap<>();
    static {
        SPECTRA_PARAMS.put("99M", 99.74e6);
        SPECTRA_PARAMS.put("190M", 190.0e6);
        SPECTRA_PARAMS.put("390M", 392.4e6);
        SPECTRA_PARAMS.put("560M", 569.2e6);
        SPECTRA_PARAMS.put("830M", 834.0e6);
        SPECTRA_PARAMS.put("1.1B", 1.149e9);
        SPECTRA_PARAMS.put("1.5B", 1.515e9);
        SPECTRA_PARAMS.put("2.4B", 2.461e9);
        SPECTRA_PARAMS.put("3.9B", 3.989e9);
    }

    private static final List<String> SMALL = List.of("tiny", "golden", "10M");

    public static List<String> presets() {
        List<String> all = new java.util.ArrayList<>(SMALL);
        all.addAll(SPECTRA_PARAMS.keySet());
        return all;
    }

    /** Every setting except the cadence ones ({@link #cadence}); data and out are null. */
    public static Map<String, Object> forPreset(String preset, String precision) {
        boolean lowBit = !precision.equals("float");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", preset);
        m.put("precision", precision);
        m.put("data", null);
        m.put("out", null);
        m.put("beta1", 0.9);
        m.put("beta2", 0.95);
        m.put("eps", 1e-8);
        m.put("clip", 1.0);
        m.put("weight_decay", 0.1);
        m.put("lr_cut_at", 0.5);
        m.put("decay_off_at", 2.0 / 3.0);
        m.put("schedule", lowBit ? "spectra" : "linear");
        m.put("seed", 1234L);
        m.put("eval_batches", 8);
        m.put("keep", 3);
        m.put("checkpoint_activations", "auto");
        double peak, cutRatio;
        switch (preset) {
            case "tiny", "golden" -> {
                m.put("batch", 8);
                m.put("seq", 64);
                m.put("accum", 1);
                m.put("steps", 300L);
                peak = lowBit ? 4e-3 : 2e-3;
                cutRatio = 0.625;
            }
            case "10M" -> {
                m.put("batch", 16);
                m.put("seq", 256);
                m.put("accum", 1);
                m.put("steps", 2000L);
                peak = lowBit ? 3e-3 : 1e-3;
                cutRatio = 0.625;
            }
            default -> {
                Double params = SPECTRA_PARAMS.get(preset);
                if (params == null)
                    throw new IllegalArgumentException("unknown preset '" + preset + "' (known: " + String.join(", ", presets()) + ")");
                // log-linear between the two confirmed ends, 99M and 3.9B
                double t = Math.log(params / 99.74e6) / Math.log(3.989e9 / 99.74e6);
                double triPeak = Math.exp(Math.log(2.4e-3) + t * (Math.log(1.2e-3) - Math.log(2.4e-3)));
                peak = lowBit ? triPeak : triPeak / 6;
                cutRatio = 0.625 + t * (0.8e-3 / 1.2e-3 - 0.625);
                int seqs = lowBit ? 512 : 1024;          // 1M / 2M tokens of 2048
                m.put("batch", 8);
                m.put("seq", 2048);
                m.put("accum", seqs / 8);
                m.put("steps", Math.round(300e9 / (seqs * 2048.0)));
            }
        }
        m.put("lr", peak);
        m.put("min_lr", peak * 0.1);
        m.put("lr_cut_ratio", cutRatio);
        return m;
    }

    /** Warmup, evaluation and checkpoint cadence for a run of {@code steps} steps. */
    public static Map<String, Object> cadence(String preset, long steps) {
        long warmup = SPECTRA_PARAMS.containsKey(preset) ? 500 : 30;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("warmup", Math.min(warmup, steps / 10));
        m.put("eval_every", (int) Math.max(1, Math.min(1000, steps / 10)));
        m.put("save_every", (int) Math.min(Integer.MAX_VALUE, SPECTRA_PARAMS.containsKey(preset) ? 1000 : Math.max(1, steps / 3)));
        return m;
    }
}
