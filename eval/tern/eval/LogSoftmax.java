package tern.eval;

/** Log-probabilities from one row of logits, in double (a vocabulary of 50k floats sums without drift). */
final class LogSoftmax {
    private LogSoftmax() {}

    /** log softmax(row)[target] for the row {@code logits[offset, offset + n)}. */
    static double logProb(float[] logits, int offset, int n, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, logits[offset + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(logits[offset + i] - max);
        return logits[offset + target] - max - Math.log(sum);
    }

    /** The first index of the row's largest logit (torch.argmax picks the first on ties too). */
    static int argmax(float[] logits, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (logits[offset + i] > logits[offset + best]) best = i;
        return best;
    }
}
