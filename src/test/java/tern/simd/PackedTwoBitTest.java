package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import tern.runtime.ShardAxis;

/**
 * The 2-bit repack of the t9 codes ({@link PackedTwoBitLayout}) and what its kernels ({@link PackedTwoBit})
 * rely on. The repack is pure Java (it runs at every width and on the scalar path); its products are
 * checked against the double reference in {@link PackedMatmulTest}, which runs PackedTwoBit at 256 and
 * 128 bits with the other kernels. Here: every trit round-trips through the repack, padding is zero
 * weights, bad t9 codes are refused by name, the copy is shared between views of the same codes, and
 * the int16 runs stay exact at the extreme sums (±127 against all-equal weights over whole runs).
 */
class PackedTwoBitTest {

    @Property(tries = 60)
    void repackRoundTripsEveryTritAndPadsWithZeros(@ForAll @IntRange(min = 1, max = 200) int rows, @ForAll @IntRange(min = 1, max = 300) int cols,
                                                    @ForAll @IntRange(min = 1, max = 5) int shards, @ForAll boolean alongRows, @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? rows : cols);
        byte[] t = PackedMatmulTest.trits(new Random(seed), rows * cols);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = PackedMatmulTest.pack(arena, t, rows, cols, new float[shards], axis);
            PackedTwoBitLayout l = PackedTwoBitLayout.repack(p);
            assertEquals((long) p.tiles() * l.blocks() * PackedTernary.TILE, l.codes.length);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    if (l.trit(r, c) != t[r * cols + c]) throw new AssertionError("trit (" + r + ", " + c + ") of " + rows + "×" + cols);
            // Every field of a padding row, and every field past a segment's last column, is q = 1 (a zero weight).
            for (int r = 0; r < p.tiles() * PackedTernary.TILE; r++)
                for (int s = 0; s < p.segments(); s++) {
                    int n = p.segStart()[s + 1] - p.segStart()[s];
                    for (int b = l.blockStart[s]; b < l.blockStart[s + 1]; b++)
                        for (int j = 0; j < PackedTwoBitLayout.BLOCK; j++) {
                            int k = (b - l.blockStart[s]) * PackedTwoBitLayout.BLOCK + j;
                            if (r >= rows || k >= n)
                                assertEquals(1, l.code(r, b) >>> 2 * j & 3, "padding field row " + r + " block " + b + " column " + j);
                        }
                }
        }
    }

    /**
     * The same bits as the t9 int8 kernels, output for output, one row and several, both shard axes: the
     * sums are the same exact integers and the scaling the same expression, so a packed model's int8
     * outputs, and its greedy tokens, do not change with the kernel.
     */
    @Property(tries = 30)
    void int8OutputsAreBitForBitThoseOfTheT9Kernels(@ForAll @IntRange(min = 1, max = 9) int m, @ForAll @IntRange(min = 1, max = 700) int in,
                                                   @ForAll @IntRange(min = 1, max = 200) int out, @ForAll @IntRange(min = 1, max = 3) int shards,
                                                   @ForAll boolean alongRows, @ForAll long seed) {
        Assumptions.assumeTrue(Vectorization.ENABLED && PackedVector.SUPPORTED && PackedTwoBit.USABLE, Vectorization.describe());
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? out : in);
        Random rnd = new Random(seed);
        byte[] t = PackedMatmulTest.trits(rnd, out * in);
        float[] scales = new float[shards];
        for (int s = 0; s < shards; s++) scales[s] = 0.01f + rnd.nextFloat();
        float[] x = MatmulReference.gaussian(rnd, m * in);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = PackedMatmulTest.pack(arena, t, out, in, scales, axis);
            float[] mine = new float[m * out], t9 = new float[m * out];
            PackedMatmul.matmul(PackedTwoBit.INSTANCE, p, x, m, mine, PackedMatmul.Activations.INT8);
            // The t9 decoding kernels read four code registers a line, two lines' worth at 512 bits, so they run
            // only below it (PackedKernels.preferred); at 512 bits the t9 reference is the scalar twin, whose
            // int8 sums are the same exact integers.
            PackedKernels t9Kernels = Vectorization.BITS < 512 ? PackedDigits.INSTANCE : PackedScalar.INSTANCE;
            PackedMatmul.matmul(t9Kernels, p, x, m, t9, PackedMatmul.Activations.INT8);
            org.junit.jupiter.api.Assertions.assertArrayEquals(t9, mine, 0f, "m=" + m + " " + out + "×" + in + " " + shards + " shards along " + axis);
        }
    }

    @Test
    void codesThatAreNotT9AreRefusedWithTheirRow() {
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = PackedMatmulTest.pack(arena, new byte[70 * 20], 70, 20, new float[] {1f}, ShardAxis.ROWS);
            var code = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            // Row 66 = tile 1, row 2 of it; group 1: field 1 set to 30 (≥ 27).
            p.codes().set(code, p.tileAt(1) + PackedTernary.LINE + 2L * 2, (short) (13 | 30 << 5 | 13 << 10));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> PackedTwoBitLayout.repack(p));
            assertTrue(e.getMessage().contains("row 66") && e.getMessage().contains("columns from 9"), e.getMessage());
        }
    }

    @Test
    void viewsOfTheSameCodesShareOneCopyAndOtherCodesGetTheirOwn() {
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofShared()) {
            byte[] t = PackedMatmulTest.trits(rnd, 100 * 50);
            PackedTernary p = PackedMatmulTest.pack(arena, t, 100, 50, new float[] {1f}, ShardAxis.ROWS);
            PackedTernary view = PackedTernary.of(p.codes(), 100, 50, new float[] {2f}, ShardAxis.ROWS);
            PackedTwoBitLayout a = PackedTwoBitLayout.of(p), b = PackedTwoBitLayout.of(view);
            assertSame(a.codes, b.codes);
            assertSame(view, b.source, "the view keeps the caller's scales");
            PackedTernary other = PackedMatmulTest.pack(arena, t, 100, 50, new float[] {1f}, ShardAxis.ROWS);
            assertNotSame(a.codes, PackedTwoBitLayout.of(other).codes);
        }
    }

    /**
     * The extreme int16 runs: all weights +1 or −1 (and alternating signs by row) against all activations
     * on the int8 bound, 700 columns (two whole 256-column runs and a partial one), one row and five
     * (the four-row kernel and one left over), at whatever width this JVM runs; the sums are exact.
     */
    @Test
    void extremeSumsStayExactInTheInt16Runs() {
        Assumptions.assumeTrue(Vectorization.ENABLED && PackedVector.SUPPORTED && PackedTwoBit.USABLE, Vectorization.describe());
        int in = 700, out = 130;
        for (int sign : new int[] {1, -1, 0}) {
            byte[] t = new byte[in * out];
            for (int r = 0; r < out; r++)
                for (int c = 0; c < in; c++) t[r * in + c] = (byte) (sign != 0 ? sign : r % 2 == 0 ? 1 : -1);
            try (Arena arena = Arena.ofShared()) {
                PackedTernary p = PackedMatmulTest.pack(arena, t, out, in, new float[] {1f}, ShardAxis.ROWS);
                for (float xv : new float[] {1f, -1f})
                    for (int m : new int[] {1, 5}) {
                        float[] xs = new float[m * in], y = new float[m * out];
                        java.util.Arrays.fill(xs, xv);
                        PackedMatmul.matmul(PackedTwoBit.INSTANCE, p, xs, m, y, PackedMatmul.Activations.INT8);
                        for (int i = 0; i < y.length; i++) {
                            int r = i % out, w = sign != 0 ? sign : r % 2 == 0 ? 1 : -1;
                            assertEquals(w * xv * in, y[i], 0f, "sign " + sign + " x " + xv + " m " + m + " output " + i);
                        }
                    }
            }
        }
    }

    /**
     * The kernels themselves against exact integer sums: random codes in the pair layout, 1–3 tiles,
     * a random range of pairs (ragged against the 16-pair runs), activations random in ±127 or on the
     * bound (mode 1: all +127; 2: all −127; 3: mixed signs), weights random or all one value
     * (the extreme int16 runs); the one-row kernel and the four-row one (over one run, as it is called),
     * at whatever width this JVM runs. Integer sums: no tolerance.
     */
    @Property(tries = 200)
    void kernelSumsAreExactIntegers(@ForAll @IntRange(min = 1, max = 3) int tiles, @ForAll @IntRange(min = 1, max = 40) int pairs,
                                    @ForAll @IntRange(min = 0, max = 39) int from, @ForAll @IntRange(min = 1, max = 40) int len,
                                    @ForAll @IntRange(min = 0, max = 3) int mode, @ForAll @IntRange(min = -2, max = 1) int weights,
                                    @ForAll long seed) {
        Assumptions.assumeTrue(Vectorization.ENABLED && PackedVector.SUPPORTED && PackedTwoBit.USABLE, Vectorization.describe());
        int p0 = Math.min(from, pairs - 1), p1 = Math.min(pairs, p0 + len), blocks = 2 * pairs, cols = PackedTwoBitLayout.PAIR * pairs;
        int T = PackedTernary.TILE;
        Random rnd = new Random(seed);
        byte[] t = new byte[tiles * T * cols];
        for (int i = 0; i < t.length; i++) t[i] = (byte) (weights == -2 ? rnd.nextInt(3) - 1 : weights);
        short[] codes = new short[tiles * blocks * T];
        for (int r = 0; r < tiles * T; r++)
            for (int b = 0; b < blocks; b++) {
                int code = 0;
                for (int j = 0; j < PackedTwoBitLayout.BLOCK; j++) code |= (t[r * cols + PackedTwoBitLayout.BLOCK * b + j] + 1) << 2 * j;
                codes[r / T * blocks * T + PackedTwoBitLayout.index(r % T, b)] = (short) code;
            }
        int rows = 4;
        short[] xs = new short[rows * cols];
        for (int i = 0; i < xs.length; i++) xs[i] = (short) (mode == 0 ? rnd.nextInt(255) - 127 : mode == 1 ? 127 : mode == 2 ? -127 : i % 3 == 0 ? -127 : 127);
        int[] pre = new int[rows * (pairs + 1)];
        for (int q = 0; q < rows; q++)
            for (int p = 0, sum = 0; p <= pairs; p++) {
                pre[q * (pairs + 1) + p] = sum;
                if (p < pairs) for (int j = 0; j < PackedTwoBitLayout.PAIR; j++) sum += xs[q * cols + PackedTwoBitLayout.PAIR * p + j];
            }
        long[][] want = new long[rows][tiles * T];
        for (int q = 0; q < rows; q++)
            for (int r = 0; r < tiles * T; r++)
                for (int c = PackedTwoBitLayout.PAIR * p0; c < PackedTwoBitLayout.PAIR * p1; c++) want[q][r] += t[r * cols + c] * xs[q * cols + c];
        int[] yb = new int[pairs * PackedTwoBit.PAIR_LANES];
        for (int tile = 0; tile < tiles; tile++) {
            int[] acc = new int[T];
            PackedTwoBit.telescope(xs, 0, p0, p1, yb, 0);
            PackedTwoBit.int8Row(yb, 0, pre, 0, codes, tile * blocks * T, p0, p1, acc, 0);
            for (int i = 0; i < T; i++)
                assertEquals(want[0][tile * T + i], acc[i], "one row: tile " + tile + " row " + i + ", pairs [" + p0 + ", " + p1 + ") of " + pairs);
            int e = Math.min(p1, p0 + PackedTwoBit.RUN), pw = pairs + 1;
            int[] xb = new int[4 * PackedTwoBit.PAIR_LANES * (e - p0)], acc4 = new int[4 * T];
            PackedTwoBit.broadcast(xs, 0, cols, 2 * cols, 3 * cols, p0, e, xb);
            PackedTwoBit.int8Rows4(xb, pre, 0, pw, 2 * pw, 3 * pw, codes, tile * blocks * T, p0, e, acc4, 0, T, 2 * T, 3 * T);
            for (int q = 0; q < rows; q++)
                for (int i = 0; i < T; i++) {
                    long w = 0;
                    for (int c = PackedTwoBitLayout.PAIR * p0; c < PackedTwoBitLayout.PAIR * e; c++) w += t[(tile * T + i) * cols + c] * xs[q * cols + c];
                    assertEquals(w, acc4[q * T + i], "four rows: row " + q + " tile " + tile + " output " + i + ", pairs [" + p0 + ", " + e + ")");
                }
        }
    }
}
