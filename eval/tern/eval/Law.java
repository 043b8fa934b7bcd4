package tern.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * The scaling laws of SPEC.md §3 as functions of named constants, with the parametrization the fitter
 * works in: constants that must be positive (A, B, E, γ, C_T, and the loss laws' exponents α, β, which
 * the laws assume positive: more parameters or data never raise the loss) are fitted as their logarithms,
 * so they span decades and cannot change sign; the PTQ exponents γ_D, γ_N as they are.
 * <ul>
 *   <li>CHINCHILLA: L(N, D) = A·N^−α + B·D^−β + E; x = (N, D).</li>
 *   <li>PRECISION (Kumar et al. 2024, weights only): N_eff = N·(1 − e^(−P_w/γ_w)),
 *       L = A·N_eff^−α + B·D^−β + E; x = (N, D, P_w). Activation and KV bits enter the same way with their own
 *       γ; our runs keep those in float, so their factors are constants absorbed into A.</li>
 *   <li>PTQ: δ_PTQ(N, D, P) = C_T·D^γ_D·N^−γ_N·e^(−P/γ_post); x = (N, D, P).</li>
 * </ul>
 */
public enum Law {
    CHINCHILLA(new String[]{"A", "alpha", "B", "beta", "E"}, new boolean[]{true, true, true, true, true}, true),
    PRECISION(new String[]{"A", "alpha", "B", "beta", "E", "gamma_w"}, new boolean[]{true, true, true, true, true, true}, true),
    PTQ(new String[]{"C_T", "gamma_D", "gamma_N", "gamma_post"}, new boolean[]{true, false, false, true}, false);

    private final String[] names;
    private final boolean[] logged;
    private final boolean logResiduals;

    Law(String[] names, boolean[] logged, boolean logResiduals) {
        this.names = names;
        this.logged = logged;
        this.logResiduals = logResiduals;
    }

    public String[] names() { return names.clone(); }

    /** True when the fit compares ln(prediction) with ln(y) (relative errors), false for plain differences. */
    public boolean logResiduals() { return logResiduals; }

    public int arity() { return this == CHINCHILLA ? 2 : 3; }

    public static Law parse(String s) {
        return switch (s) {
            case "chinchilla" -> CHINCHILLA;
            case "precision" -> PRECISION;
            case "ptq" -> PTQ;
            default -> throw new IllegalArgumentException("unknown law '" + s + "' (known: chinchilla, precision, ptq)");
        };
    }

    /** The law's value at x for natural-space constants c. */
    public double predict(double[] c, double[] x) {
        return switch (this) {
            case CHINCHILLA -> c[0] * Math.pow(x[0], -c[1]) + c[2] * Math.pow(x[1], -c[3]) + c[4];
            case PRECISION -> {
                double nEff = x[0] * (1 - Math.exp(-x[2] / c[5]));
                yield c[0] * Math.pow(nEff, -c[1]) + c[2] * Math.pow(x[1], -c[3]) + c[4];
            }
            case PTQ -> c[0] * Math.pow(x[1], c[1]) * Math.pow(x[0], -c[2]) * Math.exp(-x[2] / c[3]);
        };
    }

    /** Fitter parameters θ → constants (exp of the logged ones). */
    public double[] constants(double[] theta) {
        double[] c = theta.clone();
        for (int i = 0; i < c.length; i++) if (logged[i]) c[i] = Math.exp(theta[i]);
        return c;
    }

    /** Constants → fitter parameters. */
    public double[] theta(double[] constants) {
        double[] t = constants.clone();
        for (int i = 0; i < t.length; i++) if (logged[i]) t[i] = Math.log(constants[i]);
        return t;
    }

    /** Standard errors of the constants from those of θ (delta method: σ_c = c·σ_θ for logged ones). */
    public double[] constantErrors(double[] theta, double[] thetaErrors) {
        double[] c = constants(theta), e = thetaErrors.clone();
        for (int i = 0; i < e.length; i++) if (logged[i]) e[i] = c[i] * thetaErrors[i];
        return e;
    }

    /** Starting points spread over plausible exponents and scales, sized from the data. */
    public List<double[]> starts(double[][] x, double[] y) {
        List<double[]> out = new ArrayList<>();
        double yMin = Double.POSITIVE_INFINITY, yMean = 0;
        for (double v : y) {
            yMin = Math.min(yMin, v);
            yMean += v / y.length;
        }
        double nMid = geometricMean(x, 0), dMid = geometricMean(x, 1);
        double[] exps = {0.15, 0.4, 0.8};
        switch (this) {
            case CHINCHILLA, PRECISION -> {
                for (double a : exps)
                    for (double b : exps)
                        for (double eFrac : new double[]{0.5, 0.85})
                            for (double g : this == PRECISION ? new double[]{0.7, 2, 5} : new double[]{0}) {
                                double e = eFrac * yMin, part = Math.max(1e-3, (yMean - e) / 2);
                                double[] c = this == CHINCHILLA
                                        ? new double[]{part * Math.pow(nMid, a), a, part * Math.pow(dMid, b), b, e}
                                        : new double[]{part * Math.pow(nMid, a), a, part * Math.pow(dMid, b), b, e, g};
                                out.add(theta(c));
                            }
            }
            case PTQ -> {
                double pMid = 0;
                for (double[] p : x) pMid += p[2] / x.length;
                double scale = 0;
                for (double v : y) scale += Math.abs(v) / y.length;
                for (double gd : new double[]{0.2, 0.6, 1.2})
                    for (double gn : new double[]{0.2, 0.6, 1.2})
                        for (double gp : new double[]{0.7, 1.5, 3}) {
                            double c = Math.max(scale, 1e-6) * Math.pow(nMid, gn) / Math.pow(dMid, gd) * Math.exp(pMid / gp);
                            out.add(theta(new double[]{c, gd, gn, gp}));
                        }
            }
        }
        return out;
    }

    private static double geometricMean(double[][] x, int col) {
        double s = 0;
        for (double[] p : x) s += Math.log(p[col]);
        return Math.exp(s / x.length);
    }
}
