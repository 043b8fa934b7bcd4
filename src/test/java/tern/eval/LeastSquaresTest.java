package tern.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Levenberg–Marquardt against closed forms: a straight line's OLS estimates and standard errors, an exact exponential. */
class LeastSquaresTest {
    /** For y = a + b·x the optimum and its standard errors have closed forms; LM must reproduce them. */
    @Test
    void straightLineMatchesOrdinaryLeastSquares() {
        Random rnd = new Random(1);
        int n = 40;
        double[] x = new double[n], y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i * 0.25;
            y[i] = 1.5 - 0.7 * x[i] + 0.3 * rnd.nextGaussian();
        }
        LeastSquares.Fit f = LeastSquares.fit(t -> {
            double[] r = new double[n];
            for (int i = 0; i < n; i++) r[i] = t[0] + t[1] * x[i] - y[i];
            return r;
        }, new double[]{0, 0});
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) { mx += x[i] / n; my += y[i] / n; }
        double sxx = 0, sxy = 0;
        for (int i = 0; i < n; i++) { sxx += (x[i] - mx) * (x[i] - mx); sxy += (x[i] - mx) * (y[i] - my); }
        double b = sxy / sxx, a = my - b * mx;
        double rss = 0;
        for (int i = 0; i < n; i++) rss += Math.pow(y[i] - a - b * x[i], 2);
        double s2 = rss / (n - 2);
        double seB = Math.sqrt(s2 / sxx), seA = Math.sqrt(s2 * (1.0 / n + mx * mx / sxx));
        assertEquals(a, f.theta()[0], 1e-7);
        assertEquals(b, f.theta()[1], 1e-7);
        assertEquals(rss, f.rss(), 1e-9 * rss);
        assertEquals(seA, f.stderr()[0], 1e-5 * seA);
        assertEquals(seB, f.stderr()[1], 1e-5 * seB);
        assertTrue(f.converged());
    }

    /** Noise-free y = 3·e^(−0.4x) + 0.5 from a poor start: recovered to 1e-6. */
    @Test
    void exactExponentialFromAPoorStart() {
        int n = 30;
        double[] x = new double[n], y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i * 0.3;
            y[i] = 3 * Math.exp(-0.4 * x[i]) + 0.5;
        }
        LeastSquares.Residuals r = t -> {
            double[] out = new double[n];
            for (int i = 0; i < n; i++) out[i] = t[0] * Math.exp(-t[1] * x[i]) + t[2] - y[i];
            return out;
        };
        LeastSquares.Fit f = LeastSquares.fit(r, List.of(new double[]{1, 5, 0}, new double[]{1, 0.1, 2}));
        assertEquals(3, f.theta()[0], 1e-6);
        assertEquals(0.4, f.theta()[1], 1e-6);
        assertEquals(0.5, f.theta()[2], 1e-6);
        assertTrue(f.rss() < 1e-18);
    }

    @Test
    void noFiniteStartIsAnError() {
        assertThrows(ArithmeticException.class, () -> LeastSquares.fit(t -> new double[]{Double.NaN}, List.of(new double[]{1})));
    }

    @Test
    void singularSystemsAreNull() {
        assertEquals(null, LeastSquares.solve(new double[][]{{1, 2}, {2, 4}}, new double[]{1, 2}));
        double[] x = LeastSquares.solve(new double[][]{{0, 2}, {3, 1}}, new double[]{4, 5});
        assertEquals(1, x[0], 1e-15);
        assertEquals(2, x[1], 1e-15);
    }
}
