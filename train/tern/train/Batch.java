package tern.train;

/**
 * A batch of {@code rows} token sequences of {@code seqLen + 1} tokens each, row-major in
 * {@code tokens}: the model reads the first {@code seqLen} of a row and predicts the last
 * {@code seqLen} (the same row shifted by one).
 */
public record Batch(int rows, int seqLen, int[] tokens) {
    public Batch {
        if (tokens.length != rows * (seqLen + 1))
            throw new IllegalArgumentException(tokens.length + " tokens for " + rows + " rows of " + (seqLen + 1));
    }

    public int input(int row, int t) { return tokens[row * (seqLen + 1) + t]; }

    public int target(int row, int t) { return tokens[row * (seqLen + 1) + t + 1]; }

    /** Inputs as rows × seqLen, row-major. */
    public int[] inputs() { return slice(0); }

    /** Targets as rows × seqLen, row-major. */
    public int[] targets() { return slice(1); }

    private int[] slice(int shift) {
        int[] out = new int[rows * seqLen];
        for (int r = 0; r < rows; r++) System.arraycopy(tokens, r * (seqLen + 1) + shift, out, r * seqLen, seqLen);
        return out;
    }
}
