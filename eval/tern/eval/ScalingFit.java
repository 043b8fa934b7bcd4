package tern.eval;

import java.util.Locale;

/**
 * Fits a {@link Law} to measured points by {@link LeastSquares} from the law's several starting points, and
 * reports the constants with their standard errors and the fit's error.
 *
 * @param constants   the fitted constants, in the law's order
 * @param errors      their standard errors
 * @param rmse        root mean square residual (in ln L for log-space laws, in the data's unit otherwise)
 * @param maxRelError the largest |prediction − y| / |y| over the points
 * @param maxAbsError the largest |prediction − y| (what to read for PTQ's δ, which can be near 0)
 */
public record ScalingFit(Law law, double[] constants, double[] errors, double rmse, double maxRelError, double maxAbsError, int points,
                         LeastSquares.Fit raw) {

    /** Fits {@code law} to x[i] ↦ y[i] (x[i] has law.arity() entries, all positive). */
    public static ScalingFit fit(Law law, double[][] x, double[] y) {
        double[] free = new double[law.names().length];
        java.util.Arrays.fill(free, Double.NaN);
        return fit(law, x, y, free);
    }

    /**
     * Fits the constants whose entry in {@code fixed} is NaN and holds the others at the given values (e.g. the
     * precision law's A, α, B, β, E taken from a Chinchilla fit of the float runs, leaving γ_w to the k-bit
     * runs). Held constants are reported with error 0.
     */
    public static ScalingFit fit(Law law, double[][] x, double[] y, double[] fixed) {
        int p = 0;
        if (fixed.length != law.names().length) throw new IllegalArgumentException("the " + law + " law has " + law.names().length + " constants, got " + fixed.length + " fixed values");
        for (double v : fixed) if (Double.isNaN(v)) p++;
        if (p == 0) throw new IllegalArgumentException("every constant is fixed: nothing to fit");
        double[] fixedTheta = law.theta(fixed.clone());
        int[] freeIndex = new int[p];
        for (int i = 0, k = 0; i < fixed.length; i++) if (Double.isNaN(fixed[i])) freeIndex[k++] = i;
        if (x.length != y.length) throw new IllegalArgumentException(x.length + " inputs for " + y.length + " outputs");
        if (x.length <= p) throw new IllegalArgumentException("the " + law + " law has " + p + " free constants: it needs more than " + p + " points, got " + x.length);
        for (int i = 0; i < x.length; i++) {
            if (x[i].length != law.arity()) throw new IllegalArgumentException("point " + i + " has " + x[i].length + " inputs, the law takes " + law.arity());
            for (double v : x[i]) if (!(v > 0)) throw new IllegalArgumentException("point " + i + " has a non-positive input " + v);
            if (law.logResiduals() && !(y[i] > 0)) throw new IllegalArgumentException("point " + i + " has a non-positive loss " + y[i]);
        }
        double scale = 0;
        for (double v : y) scale += v * v / y.length;
        double unit = law.logResiduals() ? 1 : Math.sqrt(Math.max(scale, 1e-300));
        java.util.function.Function<double[], double[]> full = free -> {
            double[] t = fixedTheta.clone();
            for (int k = 0; k < freeIndex.length; k++) t[freeIndex[k]] = free[k];
            return t;
        };
        LeastSquares.Residuals r = theta -> {
            double[] c = law.constants(full.apply(theta));
            double[] out = new double[y.length];
            for (int i = 0; i < y.length; i++) {
                double pred = law.predict(c, x[i]);
                out[i] = law.logResiduals() ? Math.log(pred) - Math.log(y[i]) : (pred - y[i]) / unit;
                if (!Double.isFinite(out[i])) out[i] = 1e6;          // outside the law's domain: a wall, not NaN
            }
            return out;
        };
        java.util.List<double[]> starts = new java.util.ArrayList<>();
        for (double[] st : law.starts(x, y)) {
            double[] free = new double[p];
            for (int k = 0; k < p; k++) free[k] = st[freeIndex[k]];
            starts.add(free);
        }
        LeastSquares.Fit f = LeastSquares.fit(r, starts);
        double[] theta = full.apply(f.theta()), thetaErr = new double[fixed.length];
        for (int k = 0; k < p; k++) thetaErr[freeIndex[k]] = f.stderr()[k];
        double[] c = law.constants(theta);
        double maxRel = 0, maxAbs = 0;
        for (int i = 0; i < y.length; i++) {
            double e = Math.abs(law.predict(c, x[i]) - y[i]);
            maxAbs = Math.max(maxAbs, e);
            maxRel = Math.max(maxRel, e / Math.abs(y[i]));
        }
        double rmse = f.rmse() * unit;
        return new ScalingFit(law, c, law.constantErrors(theta, thetaErr), rmse, maxRel, maxAbs, y.length, f);
    }

    public double predict(double[] x) { return law.predict(constants, x); }

    /** A table of the constants with ± one standard error, and the fit error. */
    public String describe() {
        StringBuilder b = new StringBuilder();
        String[] names = law.names();
        b.append(String.format(Locale.ROOT, "%s law, %d points%n", law.name().toLowerCase(Locale.ROOT), points));
        for (int i = 0; i < names.length; i++)
            b.append(errors[i] == 0
                    ? String.format(Locale.ROOT, "  %-10s = %12.5g (held)%n", names[i], constants[i])
                    : String.format(Locale.ROOT, "  %-10s = %12.5g ± %.3g%n", names[i], constants[i], errors[i]));
        b.append(law.logResiduals()
                ? String.format(Locale.ROOT, "  rmse %.4g (of ln L), max relative error %.3g%%%n", rmse, 100 * maxRelError)
                : String.format(Locale.ROOT, "  rmse %.4g, max |error| %.4g (in the data's unit)%n", rmse, maxAbsError));
        return b.toString();
    }
}
