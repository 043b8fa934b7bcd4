package tern.eval;

import java.util.List;

/**
 * Nonlinear least squares by Levenberg–Marquardt: minimizes Σ rᵢ(θ)² for residuals r(θ) = f(θ, xᵢ) − yᵢ
 * (a {@link Residuals} decides how, e.g. in log space). Each iteration solves
 * (JᵀJ + μ·diag(JᵀJ))·δ = −Jᵀr with the Jacobian J by central differences; a step that lowers the sum
 * is taken and μ shrinks, otherwise μ grows and the step is retried. Uncertainties are the usual
 * asymptotic ones: Cov(θ) = s²·(JᵀJ)⁻¹ at the optimum with s² = RSS / (n − p).
 */
public final class LeastSquares {
    /** The residual vector of a parameter vector (length = number of data points). */
    @FunctionalInterface
    public interface Residuals {
        double[] at(double[] theta);
    }

    /**
     * @param theta      the best parameters
     * @param stderr     their standard errors (NaN when JᵀJ is singular or n ≤ p)
     * @param covariance s²·(JᵀJ)⁻¹
     * @param rss        the residual sum of squares
     */
    public record Fit(double[] theta, double[] stderr, double[][] covariance, double rss, int points, int iterations, boolean converged) {
        /** Root mean square residual. */
        public double rmse() { return Math.sqrt(rss / points); }
    }

    private static final int MAX_ITERATIONS = 2000;

    private LeastSquares() {}

    /** The best of the fits from each start (lowest RSS among those that stay finite). */
    public static Fit fit(Residuals f, List<double[]> starts) {
        Fit best = null;
        for (double[] s : starts) {
            Fit fit;
            try {
                fit = fit(f, s);
            } catch (ArithmeticException e) {
                continue;                                        // this start wandered into NaN territory
            }
            if (Double.isFinite(fit.rss()) && (best == null || fit.rss() < best.rss())) best = fit;
        }
        if (best == null) throw new ArithmeticException("no starting point gave a finite fit");
        return best;
    }

    /** Levenberg–Marquardt from one start. */
    public static Fit fit(Residuals f, double[] start) {
        int p = start.length;
        double[] theta = start.clone();
        double[] r = f.at(theta);
        double rss = sumSquares(r);
        if (!Double.isFinite(rss)) throw new ArithmeticException("residuals are not finite at the start");
        double mu = 1e-3;
        boolean converged = false;
        int it;
        for (it = 0; it < MAX_ITERATIONS; it++) {
            double[][] j = jacobian(f, theta, r.length);
            double[][] jtj = new double[p][p];
            double[] jtr = new double[p];
            for (int i = 0; i < r.length; i++)
                for (int a = 0; a < p; a++) {
                    jtr[a] += j[i][a] * r[i];
                    for (int b = 0; b < p; b++) jtj[a][b] += j[i][a] * j[i][b];
                }
            boolean stepped = false;
            while (mu < 1e16) {
                double[][] m = new double[p][p];
                double[] rhs = new double[p];
                for (int a = 0; a < p; a++) {
                    System.arraycopy(jtj[a], 0, m[a], 0, p);
                    m[a][a] += mu * Math.max(jtj[a][a], 1e-12);
                    rhs[a] = -jtr[a];
                }
                double[] delta = solve(m, rhs);
                if (delta == null) {
                    mu *= 10;
                    continue;
                }
                double[] trial = new double[p];
                for (int a = 0; a < p; a++) trial[a] = theta[a] + delta[a];
                double[] rt = f.at(trial);
                double rssT = sumSquares(rt);
                if (Double.isFinite(rssT) && rssT < rss) {
                    double drop = (rss - rssT) / Math.max(rss, 1e-300);
                    theta = trial;
                    r = rt;
                    rss = rssT;
                    mu = Math.max(mu / 3, 1e-12);
                    stepped = true;
                    if (drop < 1e-12) converged = true;
                    break;
                }
                mu *= 4;
            }
            if (!stepped || converged) {
                converged = true;                                // no direction lowers the sum any more
                break;
            }
        }
        return finish(f, theta, r, rss, it, converged);
    }

    private static Fit finish(Residuals f, double[] theta, double[] r, double rss, int iterations, boolean converged) {
        int p = theta.length, n = r.length;
        double[][] j = jacobian(f, theta, n);
        double[][] jtj = new double[p][p];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < p; a++)
                for (int b = 0; b < p; b++) jtj[a][b] += j[i][a] * j[i][b];
        double[][] inv = invert(jtj);
        double[][] cov = new double[p][p];
        double[] se = new double[p];
        double s2 = n > p ? rss / (n - p) : Double.NaN;
        for (int a = 0; a < p; a++) {
            for (int b = 0; b < p; b++) cov[a][b] = inv == null ? Double.NaN : s2 * inv[a][b];
            se[a] = Math.sqrt(cov[a][a]);
        }
        return new Fit(theta, se, cov, rss, n, iterations, converged);
    }

    /** ∂rᵢ/∂θ_a by central differences with a step relative to |θ_a|. */
    static double[][] jacobian(Residuals f, double[] theta, int n) {
        int p = theta.length;
        double[][] j = new double[n][p];
        for (int a = 0; a < p; a++) {
            double h = 1e-6 * Math.max(1, Math.abs(theta[a]));
            double[] up = theta.clone(), down = theta.clone();
            up[a] += h;
            down[a] -= h;
            double[] ru = f.at(up), rd = f.at(down);
            for (int i = 0; i < n; i++) j[i][a] = (ru[i] - rd[i]) / (2 * h);
        }
        return j;
    }

    static double sumSquares(double[] r) {
        double s = 0;
        for (double v : r) s += v * v;
        return s;
    }

    /** Gaussian elimination with partial pivoting; null when singular. */
    static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        double[][] m = new double[n][];
        for (int i = 0; i < n; i++) m[i] = a[i].clone();
        double[] x = b.clone();
        for (int c = 0; c < n; c++) {
            int piv = c;
            for (int i = c + 1; i < n; i++) if (Math.abs(m[i][c]) > Math.abs(m[piv][c])) piv = i;
            if (!(Math.abs(m[piv][c]) > 1e-300)) return null;
            double[] t = m[c]; m[c] = m[piv]; m[piv] = t;
            double tx = x[c]; x[c] = x[piv]; x[piv] = tx;
            for (int i = c + 1; i < n; i++) {
                double k = m[i][c] / m[c][c];
                if (k == 0) continue;
                for (int j = c; j < n; j++) m[i][j] -= k * m[c][j];
                x[i] -= k * x[c];
            }
        }
        for (int i = n - 1; i >= 0; i--) {
            double s = x[i];
            for (int j = i + 1; j < n; j++) s -= m[i][j] * x[j];
            x[i] = s / m[i][i];
        }
        for (double v : x) if (!Double.isFinite(v)) return null;
        return x;
    }

    /** The inverse by solving for each unit vector; null when singular. */
    static double[][] invert(double[][] a) {
        int n = a.length;
        double[][] inv = new double[n][n];
        for (int c = 0; c < n; c++) {
            double[] e = new double[n];
            e[c] = 1;
            double[] col = solve(a, e);
            if (col == null) return null;
            for (int r = 0; r < n; r++) inv[r][c] = col[r];
        }
        return inv;
    }
}
