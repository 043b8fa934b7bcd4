package tern.eval;

/**
 * GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022) for one linear layer y = x·Wᵀ, W [rows = out, cols = in],
 * given H = 2·XᵀX/n from calibration inputs X [n, cols]. Columns are quantized left to right; each one's
 * rounding error, divided by the matching diagonal entry of the upper Cholesky factor U of H⁻¹, is pushed
 * onto the columns not yet quantized through U's row (the optimal-brain-surgeon update), so later columns
 * compensate for earlier errors and ‖XWᵀ − XŴᵀ‖² ends lower than round-to-nearest's.
 *
 * <p>As in the paper and its reference code: columns whose inputs were always 0 (H_ii = 0) are set to 0 and
 * given H_ii = 1; dampening adds 1% of the mean diagonal to H; updates inside a block of 128 columns are
 * applied at once, those to the columns after the block lazily in one rank-128 update; with a group size G
 * the min–max grid of each row is fitted when its group's first column comes up, from the weights as the
 * earlier error feedback left them. Columns in natural order (no act-order), asymmetric grids by default.
 */
public final class Gptq {
    public static final int BLOCK = 128;
    public static final double DAMP = 0.01;

    private Gptq() {}

    /** Quantizes w [rows, cols] (row-major) against the Hessian h [cols, cols] (row-major, not modified). */
    public static QuantizeResult quantize(float[] w, int rows, int cols, double[] h, int bits, int group, boolean symmetric) {
        if ((long) rows * cols != w.length)
            throw new IllegalArgumentException("weight of " + w.length + " values is not " + rows + "×" + cols);
        if ((long) cols * cols != h.length)
            throw new IllegalArgumentException("Hessian of " + h.length + " values is not " + cols + "×" + cols);
        int g = group <= 0 || group >= cols ? cols : group;
        int groups = (cols + g - 1) / g;
        double[][] W = new double[rows][cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) W[r][c] = w[r * cols + c];
        double[][] H = new double[cols][cols];
        for (int i = 0; i < cols; i++) System.arraycopy(h, i * cols, H[i], 0, cols);

        // dead inputs: their weights cannot matter; make H invertible there
        double meanDiag = 0;
        for (int i = 0; i < cols; i++) {
            if (H[i][i] == 0) {
                H[i][i] = 1;
                for (int r = 0; r < rows; r++) W[r][i] = 0;
            }
            meanDiag += H[i][i];
        }
        double damp = DAMP * meanDiag / cols;
        for (int i = 0; i < cols; i++) H[i][i] += damp;
        double[][] U = upperCholeskyOfInverse(H);

        float[] deq = new float[w.length], scales = new float[rows * groups], zeros = new float[rows * groups];
        int[] codes = new int[w.length];
        QuantizeGrid[] grid = new QuantizeGrid[rows];
        for (int i1 = 0; i1 < cols; i1 += BLOCK) {
            int i2 = Math.min(cols, i1 + BLOCK);
            double[][] err = new double[rows][i2 - i1];
            for (int i = i1; i < i2; i++) {
                if (i % g == 0) {                               // a new group starts: fit its grids now
                    int to = Math.min(cols, i + g);
                    for (int r = 0; r < rows; r++) {
                        grid[r] = QuantizeGrid.fit(W[r], i, to, bits, symmetric);
                        scales[r * groups + i / g] = (float) grid[r].scale();
                        zeros[r * groups + i / g] = (float) grid[r].zero();
                    }
                }
                double d = U[i][i];
                for (int r = 0; r < rows; r++) {
                    double x = W[r][i];
                    int q = grid[r].code(x);
                    double v = grid[r].value(q);
                    codes[r * cols + i] = q;
                    deq[r * cols + i] = (float) v;
                    double e = (x - v) / d;
                    err[r][i - i1] = e;
                    double[] wr = W[r], ui = U[i];
                    for (int j = i + 1; j < i2; j++) wr[j] -= e * ui[j];     // feedback inside the block
                }
            }
            // lazy batch update: the block's errors onto every later column at once
            for (int r = 0; r < rows; r++) {
                double[] wr = W[r], er = err[r];
                for (int k = i1; k < i2; k++) {
                    double e = er[k - i1];
                    if (e == 0) continue;
                    double[] uk = U[k];
                    for (int j = i2; j < cols; j++) wr[j] -= e * uk[j];
                }
            }
        }
        return new QuantizeResult(rows, cols, bits, g, deq, codes, scales, zeros);
    }

    /**
     * U upper triangular with UᵀU = H⁻¹ for symmetric positive definite H: H = LLᵀ, H⁻¹ = L⁻ᵀL⁻¹, then the
     * Cholesky factor of H⁻¹ (what torch.linalg.cholesky(..., upper=True) returns in the reference code).
     */
    static double[][] upperCholeskyOfInverse(double[][] h) {
        int n = h.length;
        double[][] l = cholesky(h, "the dampened Hessian");
        double[][] li = new double[n][n];                       // L⁻¹, lower triangular
        for (int j = 0; j < n; j++) {
            li[j][j] = 1 / l[j][j];
            for (int i = j + 1; i < n; i++) {
                double s = 0;
                for (int k = j; k < i; k++) s += l[i][k] * li[k][j];
                li[i][j] = -s / l[i][i];
            }
        }
        double[][] inv = new double[n][n];                      // H⁻¹ = L⁻ᵀ L⁻¹
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int k = i; k < n; k++) s += li[k][i] * li[k][j];
                inv[i][j] = s;
                inv[j][i] = s;
            }
        double[][] c = cholesky(inv, "the inverse Hessian");
        double[][] u = new double[n][n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) u[i][j] = c[j][i];
        return u;
    }

    /** Lower Cholesky factor; a non-positive pivot is an error naming {@code what}. */
    static double[][] cholesky(double[][] a, String what) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[i][j];
                for (int k = 0; k < j; k++) s -= l[i][k] * l[j][k];
                if (i == j) {
                    if (!(s > 0)) throw new ArithmeticException(what + " is not positive definite (pivot " + s + " at " + i + ")");
                    l[i][i] = Math.sqrt(s);
                } else {
                    l[i][j] = s / l[j][j];
                }
            }
        }
        return l;
    }
}
