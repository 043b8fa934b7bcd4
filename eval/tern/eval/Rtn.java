package tern.eval;

/**
 * Round-to-nearest post-training quantization: every weight to the nearest level of its group's min–max
 * grid ({@link QuantizeGrid}), groups of {@code group} consecutive input columns in each output row (one
 * group per row when group ≤ 0 or ≥ cols). The baseline GPTQ is measured against.
 */
public final class Rtn {
    private Rtn() {}

    /** Quantizes w [rows, cols] (row-major). */
    public static QuantizeResult quantize(float[] w, int rows, int cols, int bits, int group, boolean symmetric) {
        if ((long) rows * cols != w.length)
            throw new IllegalArgumentException("weight of " + w.length + " values is not " + rows + "×" + cols);
        int g = group <= 0 || group >= cols ? cols : group;
        int groups = (cols + g - 1) / g;
        float[] deq = new float[w.length], scales = new float[rows * groups], zeros = new float[rows * groups];
        int[] codes = new int[w.length];
        double[] row = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) row[c] = w[r * cols + c];
            for (int k = 0; k < groups; k++) {
                int from = k * g, to = Math.min(cols, from + g);
                QuantizeGrid grid = QuantizeGrid.fit(row, from, to, bits, symmetric);
                scales[r * groups + k] = (float) grid.scale();
                zeros[r * groups + k] = (float) grid.zero();
                for (int c = from; c < to; c++) {
                    int q = grid.code(row[c]);
                    codes[r * cols + c] = q;
                    deq[r * cols + c] = (float) grid.value(q);
                }
            }
        }
        return new QuantizeResult(rows, cols, bits, g, deq, codes, scales, zeros);
    }
}
