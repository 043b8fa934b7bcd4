import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register tiles alone, one thread: an A block (MC rows × KC, packed [p][R]) against one B micro-panel
 * (KC × V vectors, packed [p][V·L]), every tile in the linear-index form of FloatMatmulTiles.tile4x2 (the
 * form whose bounds checks C2 hoists). Prints GFLOP/s, median of rounds, per tile and KC (one thread: run it with
 * the other core idle). Run: java --add-modules jdk.incubator.vector tools/bench/TileBench.java KC
 */
public class TileBench {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    static final int L = F.length();

    static void t4x2(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] c, int co, int ldc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int p = 0; p < kc; p++) {
            int a = apOff + 4 * p, b = bpOff + 2 * L * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]); c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]); c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]); c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]); c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L); c10.intoArray(c, co + ldc); c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc); c21.intoArray(c, co + 2 * ldc + L); c30.intoArray(c, co + 3 * ldc); c31.intoArray(c, co + 3 * ldc + L);
    }

    static void t6x2(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] c, int co, int ldc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int a = apOff + 6 * p, b = bpOff + 2 * L * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]); c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]); c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]); c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]); c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, ap[a + 4]); c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, ap[a + 5]); c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L); c10.intoArray(c, co + ldc); c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc); c21.intoArray(c, co + 2 * ldc + L); c30.intoArray(c, co + 3 * ldc); c31.intoArray(c, co + 3 * ldc + L);
        c40.intoArray(c, co + 4 * ldc); c41.intoArray(c, co + 4 * ldc + L); c50.intoArray(c, co + 5 * ldc); c51.intoArray(c, co + 5 * ldc + L);
    }

    static void t5x2(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] c, int co, int ldc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00;
        for (int p = 0; p < kc; p++) {
            int a = apOff + 5 * p, b = bpOff + 2 * L * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L);
            FloatVector x = FloatVector.broadcast(F, ap[a]); c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[a + 1]); c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[a + 2]); c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[a + 3]); c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, ap[a + 4]); c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L); c10.intoArray(c, co + ldc); c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc); c21.intoArray(c, co + 2 * ldc + L); c30.intoArray(c, co + 3 * ldc); c31.intoArray(c, co + 3 * ldc + L);
        c40.intoArray(c, co + 4 * ldc); c41.intoArray(c, co + 4 * ldc + L);
    }

    static void t4x3(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] c, int co, int ldc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        for (int p = 0; p < kc; p++) {
            int a = apOff + 4 * p, b = bpOff + 3 * L * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L), b2 = FloatVector.fromArray(F, bp, b + 2 * L);
            FloatVector x = FloatVector.broadcast(F, ap[a]); c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, ap[a + 1]); c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, ap[a + 2]); c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(F, ap[a + 3]); c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L); c02.intoArray(c, co + 2 * L);
        c10.intoArray(c, co + ldc); c11.intoArray(c, co + ldc + L); c12.intoArray(c, co + ldc + 2 * L);
        c20.intoArray(c, co + 2 * ldc); c21.intoArray(c, co + 2 * ldc + L); c22.intoArray(c, co + 2 * ldc + 2 * L);
        c30.intoArray(c, co + 3 * ldc); c31.intoArray(c, co + 3 * ldc + L); c32.intoArray(c, co + 3 * ldc + 2 * L);
    }

    static void t3x3(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] c, int co, int ldc) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
        for (int p = 0; p < kc; p++) {
            int a = apOff + 3 * p, b = bpOff + 3 * L * p;
            FloatVector b0 = FloatVector.fromArray(F, bp, b), b1 = FloatVector.fromArray(F, bp, b + L), b2 = FloatVector.fromArray(F, bp, b + 2 * L);
            FloatVector x = FloatVector.broadcast(F, ap[a]); c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, ap[a + 1]); c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, ap[a + 2]); c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L); c02.intoArray(c, co + 2 * L);
        c10.intoArray(c, co + ldc); c11.intoArray(c, co + ldc + L); c12.intoArray(c, co + ldc + 2 * L);
        c20.intoArray(c, co + 2 * ldc); c21.intoArray(c, co + 2 * ldc + L); c22.intoArray(c, co + 2 * ldc + 2 * L);
    }

    interface Tile { void run(float[] ap, int apOff, float[] bp, int bpOff, int kc, float[] c, int co, int ldc); }

    public static void main(String[] args) {
        int kc = Integer.parseInt(args[0]);
        String[] names = {"4x2", "6x2", "5x2", "4x3", "3x3"};
        int[][] shape = {{4, 2}, {6, 2}, {5, 2}, {4, 3}, {3, 3}};
        Tile[] tiles = {TileBench::t4x2, TileBench::t6x2, TileBench::t5x2, TileBench::t4x3, TileBench::t3x3};
        java.util.Random rnd = new java.util.Random(1);
        float[] ap = new float[96 * kc + 64], bp = new float[kc * 3 * L + 64], c = new float[96 * 64];
        for (int i = 0; i < ap.length; i++) ap[i] = rnd.nextFloat();
        for (int i = 0; i < bp.length; i++) bp[i] = rnd.nextFloat();
        double[][] res = new double[tiles.length][9];
        for (int round = -3; round < 9; round++)
            for (int t = 0; t < tiles.length; t++) {
                int r = shape[t][0], v = shape[t][1], mc = 96 / r * r;
                long flops = 0, t0 = System.nanoTime();
                while (System.nanoTime() - t0 < 300_000_000L) {
                    for (int ir = 0; ir < mc; ir += r) tiles[t].run(ap, ir * kc, bp, 0, kc, c, ir * 64, 64);
                    flops += 2L * mc * kc * v * L;
                }
                if (round >= 0) res[t][round] = flops / ((System.nanoTime() - t0) / 1e9) / 1e9;
            }
        for (int t = 0; t < tiles.length; t++) {
            Arrays.sort(res[t]);
            System.out.printf("tile %s kc %d: median %.1f GFLOP/s (max %.1f)%n", names[t], kc, res[t][4], res[t][8]);
        }
    }
}
