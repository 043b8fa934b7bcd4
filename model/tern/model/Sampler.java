package tern.model;

import java.util.Arrays;

/** Picks a token from one row of logits: greedy, or temperature + top-k + top-p with a seeded generator. */
public final class Sampler {
    private final SamplingOptions options;
    private final SeededRandom rng;

    public Sampler(SamplingOptions options) {
        this.options = options;
        this.rng = new SeededRandom(options.seed());
    }

    public int next(float[] logits) {
        return options.isGreedy() ? argmax(logits) : sample(logits);
    }

    /** The first index of the largest value (NaN logits are an error: they mean the model diverged). */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 0; i < logits.length; i++) {
            if (Float.isNaN(logits[i])) throw new IllegalStateException("NaN logit at token " + i);
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }

    private int sample(float[] logits) {
        int n = logits.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(logits[i])) throw new IllegalStateException("NaN logit at token " + i);
            order[i] = i;
        }
        // Most likely first; ties by id so the order (and the sample) is deterministic.
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = options.topK() > 0 ? Math.min(options.topK(), n) : n;
        double max = logits[order[0]] / (double) options.temperature();
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(logits[order[i]] / (double) options.temperature() - max);
            sum += p[i];
        }
        // Nucleus: the shortest prefix whose probability mass reaches topP.
        if (options.topP() < 1f) {
            double mass = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                mass += p[i] / sum;
                if (mass >= options.topP()) { cut = i + 1; break; }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) sum += p[i];
        }
        double u = rng.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u < 0) return order[i];
        }
        return order[keep - 1];
    }
}
