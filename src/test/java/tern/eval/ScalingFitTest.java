package tern.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The fitter recovers known constants from synthetic points drawn from each law with small multiplicative
 * noise (0.2% of the loss, about what a few thousand validation tokens give), and its standard errors are of
 * the right size (the truth lies within 4σ).
 */
class ScalingFitTest {
    private static final double[] NS = {2e5, 5e5, 1e6, 3e6, 1e7, 3e7};
    private static final double[] DS = {1e7, 3e7, 1e8, 3e8, 1e9};

    private static void check(ScalingFit f, double[] truth, double[] relTol) {
        for (int i = 0; i < truth.length; i++) {
            String name = f.law().names()[i];
            assertEquals(truth[i], f.constants()[i], relTol[i] * Math.abs(truth[i]), name + " of " + f.describe());
            assertTrue(Math.abs(f.constants()[i] - truth[i]) <= 4 * f.errors()[i] + 1e-12 * Math.abs(truth[i]),
                    name + " is " + f.constants()[i] + " ± " + f.errors()[i] + ", truth " + truth[i]);
        }
    }

    @Test
    void chinchillaConstantsAreRecovered() {
        double[] truth = {406.4, 0.34, 410.7, 0.28, 1.69};             // Hoffmann et al.'s fitted values
        Random rnd = new Random(11);
        List<double[]> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        for (double n : NS)
            for (double d : DS) {
                xs.add(new double[]{n, d});
                ys.add(Law.CHINCHILLA.predict(truth, new double[]{n, d}) * (1 + 0.002 * rnd.nextGaussian()));
            }
        ScalingFit f = ScalingFit.fit(Law.CHINCHILLA, xs.toArray(double[][]::new), ys.stream().mapToDouble(v -> v).toArray());
        // exponents to a few percent; the prefactors trade off with them (A·N^-α), so looser
        check(f, truth, new double[]{0.6, 0.06, 0.6, 0.06, 0.03});
        assertTrue(f.rmse() < 0.004, "rmse " + f.rmse());
    }

    @Test
    void precisionConstantsAreRecovered() {
        double[] truth = {406.4, 0.34, 410.7, 0.28, 1.69, 2.7};
        Random rnd = new Random(12);
        List<double[]> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        for (double n : NS)
            for (double d : DS)
                for (double p : new double[]{2, 3, 4, 6, 8, 16}) {
                    xs.add(new double[]{n, d, p});
                    ys.add(Law.PRECISION.predict(truth, new double[]{n, d, p}) * (1 + 0.002 * rnd.nextGaussian()));
                }
        ScalingFit f = ScalingFit.fit(Law.PRECISION, xs.toArray(double[][]::new), ys.stream().mapToDouble(v -> v).toArray());
        check(f, truth, new double[]{0.6, 0.06, 0.6, 0.06, 0.03, 0.05});
    }

    @Test
    void ptqConstantsAreRecovered() {
        double[] truth = {0.05, 0.5, 0.4, 1.2};
        Random rnd = new Random(13);
        List<double[]> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        for (double n : NS)
            for (double d : DS)
                for (double p : new double[]{3, 4, 6, 8}) {
                    double[] x = {n, d, p};
                    xs.add(x);
                    ys.add(Law.PTQ.predict(truth, x) * (1 + 0.01 * rnd.nextGaussian()));
                }
        ScalingFit f = ScalingFit.fit(Law.PTQ, xs.toArray(double[][]::new), ys.stream().mapToDouble(v -> v).toArray());
        check(f, truth, new double[]{0.3, 0.03, 0.03, 0.03});
    }

    @Test
    void tooFewOrBadPointsAreRefused() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> ScalingFit.fit(Law.CHINCHILLA, new double[][]{{1, 2}, {3, 4}}, new double[]{3, 2})).getMessage().contains("more than 5"));
        double[][] x = new double[8][];
        double[] y = new double[8];
        for (int i = 0; i < 8; i++) { x[i] = new double[]{1e6 * (i + 1), 1e8}; y[i] = 3; }
        y[3] = -1;
        assertThrows(IllegalArgumentException.class, () -> ScalingFit.fit(Law.CHINCHILLA, x, y));
        x[3] = new double[]{0, 1e8};
        y[3] = 3;
        assertThrows(IllegalArgumentException.class, () -> ScalingFit.fit(Law.CHINCHILLA, x, y));
    }
}
