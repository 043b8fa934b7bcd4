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
        int keep = options.topK() > 0 ? Math.min(options.topK(), n) : n;
        int[] order = keep < n ? best(logits, keep) : sorted(logits);
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

    /** Most likely first; ties by id, so the order (and the sample) is deterministic. */
    private static boolean before(float[] logits, int a, int b) {
        return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    }

    /** Every id in {@link #before} order. */
    static int[] sorted(float[] logits) {
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < logits.length; i++) {
            if (Float.isNaN(logits[i])) throw new IllegalStateException("NaN logit at token " + i);
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> before(logits, a, b) ? -1 : before(logits, b, a) ? 1 : 0);
        int[] ids = new int[order.length];
        for (int i = 0; i < ids.length; i++) ids[i] = order[i];
        return ids;
    }

    /**
     * The first k ids of {@link #sorted} without sorting the vocabulary: one pass keeping the k best in
     * order (insertion; a later id never displaces an equal logit, as ties go by id). For top-k sampling
     * this replaced a sort of every id, boxed, per token, whose compiles were ~1.6 s of a fresh process's
     * C2 time on two cores (BENCHMARKS.md).
     */
    static int[] best(float[] logits, int k) {
        int[] order = new int[k];
        int size = 0;
        for (int i = 0; i < logits.length; i++) {
            if (Float.isNaN(logits[i])) throw new IllegalStateException("NaN logit at token " + i);
            if (size == k && !before(logits, i, order[k - 1])) continue;
            int j = size < k ? size++ : k - 1;
            for (; j > 0 && before(logits, i, order[j - 1]); j--) order[j] = order[j - 1];
            order[j] = i;
        }
        return order;
    }
}
