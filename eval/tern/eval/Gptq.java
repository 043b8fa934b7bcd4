package tern.eval;

import tern.runtime.Backend;
import tern.runtime.Tensor;

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

    /**
     * What GPTQ derives from one Hessian before it touches a weight (shared by the linears that read the same
     * input: q, k, v; gate, up): the dead input columns and the upper Cholesky factor U of the dampened H⁻¹.
     */
    public record Prepared(int cols, boolean[] dead, double[][] u) {}

    /** Dead columns (H_ii = 0, given H_ii = 1), 1% dampening, then U (host, double). {@code h} is not modified. */
    public static Prepared prepare(double[] h, int cols) {
        if ((long) cols * cols != h.length)
            throw new IllegalArgumentException("Hessian of " + h.length + " values is not " + cols + "×" + cols);
        double[][] H = new double[cols][cols];
        for (int i = 0; i < cols; i++) System.arraycopy(h, i * cols, H[i], 0, cols);
        boolean[] dead = new boolean[cols];
        double meanDiag = 0;
        for (int i = 0; i < cols; i++) {
            if (H[i][i] == 0) {                                 // dead inputs: their weights cannot matter
                H[i][i] = 1;
                dead[i] = true;
            }
            meanDiag += H[i][i];
        }
        double damp = DAMP * meanDiag / cols;
        for (int i = 0; i < cols; i++) H[i][i] += damp;
        return new Prepared(cols, dead, upperCholeskyOfInverse(H));
    }

    /** Quantizes w [rows, cols] (row-major) against the Hessian h [cols, cols] (row-major, not modified), on the host in double. */
    public static QuantizeResult quantize(float[] w, int rows, int cols, double[] h, int bits, int group, boolean symmetric) {
        if ((long) rows * cols != w.length)
            throw new IllegalArgumentException("weight of " + w.length + " values is not " + rows + "×" + cols);
        Prepared p = prepare(h, cols);
        return quantize(new HostColumns(w, rows, cols, p), p, rows, cols, bits, group, symmetric);
    }

    /**
     * Quantizes w [rows, cols] with the lazy-batch updates of the later columns as matrix products on
     * {@code backend} (f32, the weights kept there transposed); the column-by-column work inside each block
     * of 128 stays on the host in double.
     */
    public static QuantizeResult quantize(Backend backend, float[] w, int rows, int cols, Prepared p, int bits, int group, boolean symmetric) {
        if ((long) rows * cols != w.length)
            throw new IllegalArgumentException("weight of " + w.length + " values is not " + rows + "×" + cols);
        if (p.cols() != cols) throw new IllegalArgumentException("a Hessian of " + p.cols() + " columns for a weight of " + cols);
        try (BackendColumns c = new BackendColumns(backend, w, rows, cols, p)) {
            return quantize(c, p, rows, cols, bits, group, symmetric);
        }
    }

    /** Where the columns not yet quantized live, and how the block's errors reach them. */
    interface Columns {
        /** W[:, from:to) as it stands now, [rows][to − from]. */
        double[][] window(int from, int to);

        /** W[:, i2:] −= err · U[i1:i2, i2:] for the block's errors err [rows][i2 − i1]. */
        void lazyUpdate(int i1, int i2, double[][] err);
    }

    private static QuantizeResult quantize(Columns columns, Prepared p, int rows, int cols, int bits, int group, boolean symmetric) {
        int g = group <= 0 || group >= cols ? cols : group;
        int groups = (cols + g - 1) / g;
        double[][] U = p.u();
        float[] deq = new float[rows * cols], scales = new float[rows * groups], zeros = new float[rows * groups];
        int[] codes = new int[rows * cols];
        QuantizeGrid[] grid = new QuantizeGrid[rows];
        for (int i1 = 0; i1 < cols; i1 += BLOCK) {
            int i2 = Math.min(cols, i1 + BLOCK);
            // a group starting in this block fits its grid over columns that may lie beyond it
            int hi = i2;
            for (int i = i1; i < i2; i++) if (i % g == 0) hi = Math.max(hi, Math.min(cols, i + g));
            final int from = i1, to = i2, width = hi - i1;
            double[][] W = columns.window(i1, hi);
            double[][] err = new double[rows][i2 - i1];
            java.util.stream.IntStream.range(0, rows).parallel().forEach(r -> {   // rows are independent inside a block
                double[] wr = W[r];
                for (int i = from; i < to; i++) {
                    if (i % g == 0) {                              // a new group starts: fit its grid now
                        grid[r] = QuantizeGrid.fit(wr, i - from, Math.min(width, i - from + g), bits, symmetric);
                        scales[r * groups + i / g] = (float) grid[r].scale();
                        zeros[r * groups + i / g] = (float) grid[r].zero();
                    }
                    double x = wr[i - from];
                    int q = grid[r].code(x);
                    double v = grid[r].value(q);
                    codes[r * cols + i] = q;
                    deq[r * cols + i] = (float) v;
                    double e = (x - v) / U[i][i];
                    err[r][i - from] = e;
                    double[] ui = U[i];
                    for (int j = i + 1; j < to; j++) wr[j - from] -= e * ui[j];     // feedback inside the block
                }
            });
            if (i2 < cols) columns.lazyUpdate(i1, i2, err);
        }
        return new QuantizeResult(rows, cols, bits, g, deq, codes, scales, zeros);
    }

    /** The reference: W in double on the host, the lazy update a double loop. */
    private static final class HostColumns implements Columns {
        private final double[][] w;
        private final double[][] u;

        HostColumns(float[] w, int rows, int cols, Prepared p) {
            this.w = new double[rows][cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) this.w[r][c] = p.dead()[c] ? 0 : w[r * cols + c];
            this.u = p.u();
        }

        @Override public double[][] window(int from, int to) {
            double[][] out = new double[w.length][];
            for (int r = 0; r < w.length; r++) out[r] = java.util.Arrays.copyOfRange(w[r], from, to);
            return out;
        }

        @Override public void lazyUpdate(int i1, int i2, double[][] err) {
            int cols = w.length == 0 ? 0 : w[0].length;
            java.util.stream.IntStream.range(0, w.length).parallel().forEach(r -> {
                double[] wr = w[r], er = err[r];
                for (int k = i1; k < i2; k++) {
                    double e = er[k - i1];
                    if (e == 0) continue;
                    double[] uk = u[k];
                    for (int j = i2; j < cols; j++) wr[j] -= e * uk[j];
                }
            });
        }
    }

    /**
     * W kept transposed on the backend (Wt [cols, rows], so a block of columns is a row slice) with U [cols,
     * cols] beside it in f32. The lazy update is one product per block over all of Wt:
     * Wt += U[i1:i2, :]ᵀ · (−err)ᵀ. U is upper triangular, so rows of Wt before the block get exact zeros;
     * the block's own rows get values never read again (those columns are quantized already).
     */
    private static final class BackendColumns implements Columns, AutoCloseable {
        private final Backend backend;
        private final int rows, cols;
        private final Tensor wt, u;

        BackendColumns(Backend backend, float[] w, int rows, int cols, Prepared p) {
            this.backend = backend;
            this.rows = rows;
            this.cols = cols;
            float[] t = new float[rows * cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) t[c * rows + r] = p.dead()[c] ? 0f : w[r * cols + c];
            float[] uf = new float[cols * cols];
            double[][] U = p.u();
            for (int i = 0; i < cols; i++)
                for (int j = i; j < cols; j++) uf[i * cols + j] = (float) U[i][j];
            Tensor wt0 = backend.upload(t, cols, rows);
            try {
                this.u = backend.upload(uf, cols, cols);
            } catch (RuntimeException e) {
                wt0.close();
                throw e;
            }
            this.wt = wt0;
        }

        @Override public double[][] window(int from, int to) {
            float[] part;
            try (Tensor view = wt.slice(from, to)) {
                part = backend.download(view);
            }
            int width = to - from;
            double[][] out = new double[rows][width];
            for (int c = 0; c < width; c++)
                for (int r = 0; r < rows; r++) out[r][c] = part[c * rows + r];
            return out;
        }

        @Override public void lazyUpdate(int i1, int i2, double[][] err) {
            int b = i2 - i1;
            float[] negEt = new float[b * rows];
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < b; k++) negEt[k * rows + r] = (float) -err[r][k];
            try (Tensor e = backend.upload(negEt, b, rows); Tensor ub = u.slice(i1, i2)) {
                backend.matmul(ub, true, e, false, wt, true);
            }
        }

        @Override public void close() {
            wt.close();
            u.close();
        }
    }

    /**
     * U upper triangular with UᵀU = H⁻¹ for symmetric positive definite H (what the reference code's
     * cholesky, cholesky_inverse, cholesky(upper=True) return), by one factorization and one triangular
     * inverse instead of four n³ passes: with J the order reversal, JHJ = LLᵀ gives H = RRᵀ for the upper
     * R = JLJ, so H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ = J·L⁻¹·J (the Cholesky factor is unique, so this is the same U).
     * Both passes run over the cores (rows of a column, columns of the inverse), in double.
     */
    static double[][] upperCholeskyOfInverse(double[][] h) {
        int n = h.length;
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m[i][j] = h[n - 1 - i][n - 1 - j];
        double[][] l = cholesky(m, "the dampened Hessian");
        double[][] xt = lowerInverseTransposed(l);                // xt[j][i] = (L⁻¹)[i][j]
        double[][] u = new double[n][n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) u[i][j] = xt[n - 1 - j][n - 1 - i];   // U[i][j] = (L⁻¹)[n−1−i][n−1−j]
        return u;
    }

    /** (L⁻¹)ᵀ for lower triangular L: column j of L⁻¹ solves L·x = e_j by forward substitution, columns in parallel. */
    private static double[][] lowerInverseTransposed(double[][] l) {
        int n = l.length;
        double[][] xt = new double[n][n];
        java.util.stream.IntStream.range(0, n).parallel().forEach(j -> {
            double[] x = xt[j];
            x[j] = 1 / l[j][j];
            for (int i = j + 1; i < n; i++) x[i] = -dot(l[i], x, j, i) / l[i][i];
        });
        return xt;
    }

    /** Lower Cholesky factor, column by column with the rows below each pivot in parallel; a non-positive pivot is an error naming {@code what}. */
    static double[][] cholesky(double[][] a, String what) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int j = 0; j < n; j++) {
            double[] lj = l[j];
            double d = a[j][j] - dot(lj, lj, 0, j);
            if (!(d > 0)) throw new ArithmeticException(what + " is not positive definite (pivot " + d + " at " + j + ")");
            double pivot = Math.sqrt(d);
            lj[j] = pivot;
            final int col = j;
            java.util.stream.IntStream rows = java.util.stream.IntStream.range(j + 1, n);
            if ((long) (n - j) * j > 1 << 16) rows = rows.parallel();   // small columns are not worth the fork
            rows.forEach(i -> l[i][col] = (a[i][col] - dot(l[i], l[col], 0, col)) / pivot);
        }
        return l;
    }

    /** Σ a[k]·b[k] for k in [from, to), four partial sums (a fixed order: the same bits every run). */
    private static double dot(double[] a, double[] b, int from, int to) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int k = from;
        for (; k + 3 < to; k += 4) {
            s0 += a[k] * b[k];
            s1 += a[k + 1] * b[k + 1];
            s2 += a[k + 2] * b[k + 2];
            s3 += a[k + 3] * b[k + 3];
        }
        for (; k < to; k++) s0 += a[k] * b[k];
        return (s0 + s1) + (s2 + s3);
    }
}
