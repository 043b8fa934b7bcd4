package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.ShardAxis;

/**
 * The packed inference kernels against plain references in double: y = x·(γT)ᵀ from the dequantized
 * matrix γ·T, on the scalar and the Vector API twin, for float activations and for int8 activations
 * (whose reference quantizes x by its own definition, absmax per row to ±127, and then multiplies in
 * double). Shapes are random up to 300 with ragged tails (rows not a multiple of the 64-row tile,
 * columns not a multiple of the 9-column group, shards that cut groups). Tolerance: 1e-5·Σ|x·γT| per
 * output, the float-matmul bound; the int8 sums are exact integers, so only the final scaling rounds.
 */
class PackedMatmulTest {
    private static final double RTOL = 1e-5;

    /** Every twin this width can run: the scalar one, the lookups, and below 512 bits the decoding and the 2-bit kernels. */
    static final PackedKernels[] PATHS = !Vectorization.ENABLED || !PackedVector.SUPPORTED
            ? new PackedKernels[] {PackedScalar.INSTANCE}
            : Vectorization.BITS < 512
            ? new PackedKernels[] {PackedScalar.INSTANCE, PackedVector.INSTANCE, PackedDigits.INSTANCE, PackedTwoBit.INSTANCE}
            : new PackedKernels[] {PackedScalar.INSTANCE, PackedVector.INSTANCE};

    /** Random trits with about a third zeros, and positive scales. */
    static byte[] trits(Random rnd, int n) {
        byte[] t = new byte[n];
        for (int i = 0; i < n; i++) t[i] = (byte) (rnd.nextInt(3) - 1);
        return t;
    }

    static PackedTernary pack(Arena arena, byte[] t, int rows, int cols, float[] scales, ShardAxis axis) {
        MemorySegment codes = arena.allocate(PackedTernary.bytes(rows, cols, scales.length, axis), 64);
        return PackedTernary.pack(t, rows, cols, scales, axis, codes);
    }

    /** γ·T written from the definition (not through the codes). */
    static float[] dequantized(byte[] t, int rows, int cols, float[] scales, ShardAxis axis) {
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int s = MatmulReference.shard(axis == ShardAxis.ROWS ? r : c, axis == ShardAxis.ROWS ? rows : cols, scales.length);
                w[r * cols + c] = t[r * cols + c] * scales[s];
            }
        return w;
    }

    /** x with each row replaced by s·q, q = clamp(rint(x/s), −127, 127), s = max|x|/127 (1 for a zero row). */
    static float[] int8Rounded(float[] x, int m, int in) {
        float[] out = new float[x.length];
        for (int r = 0; r < m; r++) {
            double max = 0;
            for (int c = 0; c < in; c++) max = Math.max(max, Math.abs(x[r * in + c]));
            float s = max > 0 ? (float) max / 127f : 1f;
            for (int c = 0; c < in; c++) {
                long q = Math.max(-127, Math.min(127, Math.round(Math.rint(x[r * in + c] / s))));
                out[r * in + c] = (float) ((double) q * s);
            }
        }
        return out;
    }

    // 60 tries: each runs a reference of up to 9·300·300 terms and 4 kernel runs; keeps the class ~2 s.
    @Property(tries = 60)
    void productsMatchTheDequantizedReference(@ForAll @IntRange(min = 1, max = 9) int m,
                                              @ForAll @IntRange(min = 1, max = 300) int in,
                                              @ForAll @IntRange(min = 1, max = 300) int out,
                                              @ForAll @IntRange(min = 1, max = 6) int shards,
                                              @ForAll boolean alongRows, @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? out : in);
        Random rnd = new Random(seed);
        byte[] t = trits(rnd, out * in);
        float[] scales = new float[shards];
        for (int s = 0; s < shards; s++) scales[s] = 0.01f + rnd.nextFloat();
        float[] x = MatmulReference.gaussian(rnd, m * in);
        float[] w = dequantized(t, out, in, scales, axis);
        MatmulReference.Product floatRef = MatmulReference.matmul(x, false, w, true, null, m, in, out);
        MatmulReference.Product int8Ref = MatmulReference.matmul(int8Rounded(x, m, in), false, w, true, null, m, in, out);
        String what = "m=" + m + " in=" + in + " out=" + out + " " + shards + " shards along " + axis;
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = pack(arena, t, out, in, scales, axis);
            for (PackedKernels k : PATHS) {
                float[] y = new float[m * out];
                PackedMatmul.matmul(k, p, x, m, y, PackedMatmul.Activations.FLOAT);
                MatmulReference.assertClose(k.getClass().getSimpleName() + " float " + what, y, floatRef, RTOL);
                float[] yq = new float[m * out];
                PackedMatmul.matmul(k, p, x, m, yq, PackedMatmul.Activations.INT8);
                MatmulReference.assertClose(k.getClass().getSimpleName() + " int8 " + what, yq, int8Ref, RTOL);
            }
        }
    }

    /**
     * The blocked path of many rows (prefill): rows past one row block, columns past one run of 64 groups
     * (576 columns), both shard axes, against the same references; grouped products too.
     */
    @Property(tries = 12)
    void blockedProductsOfManyRowsMatchTheReference(@ForAll @IntRange(min = 16, max = 40) int m,
                                                    @ForAll @IntRange(min = 500, max = 700) int in,
                                                    @ForAll @IntRange(min = 1, max = 200) int out,
                                                    @ForAll @IntRange(min = 1, max = 3) int shards,
                                                    @ForAll boolean alongRows, @ForAll long seed) {
        productsMatchTheDequantizedReference(m, in, out, shards, alongRows, seed);
        groupedProductsEqualSeparateOnes(m, in, 2, alongRows, seed);
    }

    /**
     * The multi-row int8 product (batched decode, prefill: codes decoded once per tile and applied to four
     * rows at a time, groups in 28-group runs): rows not a multiple of four, past one 16-row block, columns
     * past several runs, both shard axes; against the double reference and, exactly, against the same rows
     * multiplied one at a time (the int8 sums are exact integers, so any grouping gives the same bits).
     */
    @Property(tries = 25)
    void multiRowInt8ProductsEqualOneRowAtATime(@ForAll @IntRange(min = 2, max = 21) int m,
                                                @ForAll @IntRange(min = 1, max = 700) int in,
                                                @ForAll @IntRange(min = 1, max = 200) int out,
                                                @ForAll @IntRange(min = 1, max = 3) int shards,
                                                @ForAll boolean alongRows, @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? out : in);
        Random rnd = new Random(seed);
        byte[] t = trits(rnd, out * in);
        float[] scales = new float[shards];
        for (int s = 0; s < shards; s++) scales[s] = 0.01f + rnd.nextFloat();
        float[] x = MatmulReference.gaussian(rnd, m * in);
        MatmulReference.Product ref = MatmulReference.matmul(int8Rounded(x, m, in), false, dequantized(t, out, in, scales, axis), true, null, m, in, out);
        String what = "m=" + m + " in=" + in + " out=" + out + " " + shards + " shards along " + axis;
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = pack(arena, t, out, in, scales, axis);
            for (PackedKernels k : PATHS) {
                float[] y = new float[m * out];
                PackedMatmul.matmul(k, p, x, m, y, PackedMatmul.Activations.INT8);
                MatmulReference.assertClose(k.getClass().getSimpleName() + " int8 " + what, y, ref, RTOL);
                for (int r = 0; r < m; r++) {
                    float[] one = new float[out];
                    PackedMatmul.matmul(k, p, java.util.Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, one, PackedMatmul.Activations.INT8);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(one, java.util.Arrays.copyOfRange(y, r * out, (r + 1) * out), 0f,
                            k.getClass().getSimpleName() + " row " + r + " of " + what);
                }
            }
        }
    }

    /** Products sharing an input (q, k, v) in one call give exactly the bits of separate calls. */
    @Property(tries = 30)
    void groupedProductsEqualSeparateOnes(@ForAll @IntRange(min = 1, max = 5) int m, @ForAll @IntRange(min = 1, max = 200) int in,
                                          @ForAll @IntRange(min = 1, max = 3) int matrices, @ForAll boolean int8, @ForAll long seed) {
        Random rnd = new Random(seed);
        PackedMatmul.Activations act = int8 ? PackedMatmul.Activations.INT8 : PackedMatmul.Activations.FLOAT;
        float[] x = MatmulReference.gaussian(rnd, m * in);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary[] ws = new PackedTernary[matrices];
            float[][] ys = new float[matrices][];
            for (int i = 0; i < matrices; i++) {
                int out = 1 + rnd.nextInt(200);
                ws[i] = pack(arena, trits(rnd, out * in), out, in, new float[] {0.5f + i}, ShardAxis.ROWS);
                ys[i] = new float[m * out];
            }
            for (PackedKernels k : PATHS) {
                PackedMatmul.matmul(k, ws, x, m, ys, act);
                for (int i = 0; i < matrices; i++) {
                    float[] alone = new float[m * ws[i].rows()];
                    PackedMatmul.matmul(k, ws[i], x, m, alone, act);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(alone, ys[i], 0f, "matrix " + i);
                }
            }
            PackedTernary other = pack(arena, new byte[64 * (in + 1)], 64, in + 1, new float[] {1f}, ShardAxis.ROWS);
            assertThrows(IllegalArgumentException.class,
                    () -> PackedMatmul.matmul(new PackedTernary[] {ws[0], other}, x, m, new float[][] {ys[0], new float[64 * m]}, act));
        }
    }

    @Property(tries = 40)
    void codesReadBackEveryTrit(@ForAll @IntRange(min = 1, max = 200) int rows, @ForAll @IntRange(min = 1, max = 200) int cols,
                                @ForAll @IntRange(min = 1, max = 5) int shards, @ForAll boolean alongRows, @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? rows : cols);
        byte[] t = trits(new Random(seed), rows * cols);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = pack(arena, t, rows, cols, new float[shards], axis);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    if (p.trit(r, c) != t[r * cols + c]) throw new AssertionError("trit (" + r + ", " + c + ") of " + rows + "×" + cols);
        }
    }

    /** The vector int8 quantizer gives the scalar one's bytes and scale exactly, ties to even included. */
    @Test
    void vectorQuantizerMatchesTheScalarOne() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Vectorization.ENABLED, Vectorization.describe());
        Random rnd = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + rnd.nextInt(300);
            float[] x = new float[n + 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(7) - 3));
            if (trial % 4 == 0) {   // max 127: s = 1, so halves are exact ties
                for (int i = 0; i < x.length; i++) x[i] = (rnd.nextInt(255) - 127) / 2f;
                x[rnd.nextInt(x.length)] = 127f;
            }
            if (trial == 1) java.util.Arrays.fill(x, 0f);
            int off = rnd.nextInt(4);
            n = Math.min(n, x.length - off);
            byte[] qs = new byte[n], qv = new byte[n];
            float ss = PackedMatmul.quantizeInt8(x, off, n, qs), sv = Int8Quantizer.quantize(x, off, n, qv);
            assertEquals(ss, sv, 0f, "scale, trial " + trial);
            org.junit.jupiter.api.Assertions.assertArrayEquals(qs, qv, "bytes, trial " + trial + ", n " + n);
        }
    }

    /** PackedDigits' decoding: for every field value the packer writes, the quotients and the digit sum it relies on. */
    @Test
    void decodingIdentityHoldsForEveryField() {
        int[] x = {-127, 5, 127};
        for (int k = 0; k < PackedTernary.PATTERNS; k++) {
            assertEquals(k / 3, (11 * k) >> 5, "k/3 of " + k);
            assertEquals(k / 9, (57 * k) >> 9, "k/9 of " + k);
            int direct = 0;
            for (int i = 0; i < 3; i++) direct += PackedTernary.digit(k, i) * x[i];
            int a = x[0], b = x[1] - 3 * x[0], c = x[2] - 3 * x[1];
            assertEquals(direct, a * k + b * (k / 3) + c * (k / 9) - (13 * a + 4 * b + c), "sum of field " + k);
        }
    }

    /** The int8 path is exact: with x already on the int8 grid its output equals the float reference's to f32 rounding. */
    @Test
    void largeSumsStayExactInTheInt16Accumulators() {
        // 1024 columns of +127 against all-(+1) weights: 28 groups per int16 flush at the bound 28·9·127 = 32004;
        // three tiles, so both the two-tile kernel and the single one run.
        int in = 1024, out = 192;
        byte[] t = new byte[in * out];
        java.util.Arrays.fill(t, (byte) 1);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = pack(arena, t, out, in, new float[] {1f}, ShardAxis.ROWS);
            for (PackedKernels k : PATHS)
                for (int m : new int[] {1, 5}) {          // one row; four rows in the multi-row kernel and one left over
                    float[] xs = new float[m * in], y = new float[m * out];
                    java.util.Arrays.fill(xs, 1f);
                    PackedMatmul.matmul(k, p, xs, m, y, PackedMatmul.Activations.INT8);
                    for (float v : y) assertEquals(1024f, v, 0f, k.getClass().getSimpleName() + " m=" + m);
                }
        }
    }

    @Test
    void badShapesAreRefused() {
        try (Arena arena = Arena.ofShared()) {
            assertThrows(IllegalArgumentException.class, () -> PackedTernary.of(arena.allocate(10), 64, 8, new float[] {1f}, ShardAxis.ROWS));
            PackedTernary p = pack(arena, new byte[64 * 8], 64, 8, new float[] {1f}, ShardAxis.ROWS);
            assertThrows(IllegalArgumentException.class, () -> PackedMatmul.matmul(p, new float[7], 1, new float[64], PackedMatmul.Activations.FLOAT));
            assertThrows(IllegalArgumentException.class, () -> PackedMatmul.matmul(p, new float[8], 1, new float[63], PackedMatmul.Activations.INT8));
        }
    }

    @Property(tries = 40)
    void floatMatvecMatchesTheReference(@ForAll @IntRange(min = 1, max = 200) int rows, @ForAll @IntRange(min = 1, max = 300) int cols,
                                        @ForAll boolean half, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] w = MatmulReference.gaussian(rnd, rows * cols), x = MatmulReference.gaussian(rnd, cols);
        PackedFloatMatvec.Format f = half ? PackedFloatMatvec.Format.F16 : PackedFloatMatvec.Format.F32;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate((long) rows * cols * f.bytes);
            for (int i = 0; i < w.length; i++) {
                if (half) {
                    short h = Float.floatToFloat16(w[i]);
                    seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, h);
                    w[i] = Float.float16ToFloat(h);   // the reference multiplies what is stored
                } else {
                    seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, w[i]);
                }
            }
            MatmulReference.Product ref = MatmulReference.matmul(x, false, w, true, null, 1, cols, rows);
            for (boolean vector : Vectorization.ENABLED ? new boolean[] {false, true} : new boolean[] {false}) {
                float[] y = new float[rows];
                PackedFloatMatvec.matvec(vector, seg, f, rows, cols, x, y);
                MatmulReference.assertClose((vector ? "vector " : "scalar ") + f + " " + rows + "×" + cols, y, ref, RTOL);
                float[] row = new float[cols];
                int r = rows / 2;
                PackedFloatMatvec.row(seg, f, cols, r, row, 0);
                for (int c = 0; c < cols; c++) assertEquals(w[r * cols + c], row[c], 0f);
            }
        }
    }

    /**
     * The LM head of a batched decode step: m activation rows through one f32 or f16 matrix (f16: four rows per
     * widened vector, the rest one at a time) give every row exactly the bits of its own matrix-vector product,
     * and match the double reference; columns with ragged tails past the vector loop.
     */
    @Property(tries = 30)
    void floatMatmulRowsEqualTheirMatvecs(@ForAll @IntRange(min = 2, max = 11) int m, @ForAll @IntRange(min = 1, max = 200) int rows,
                                          @ForAll @IntRange(min = 1, max = 300) int cols, @ForAll boolean half, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] w = MatmulReference.gaussian(rnd, rows * cols), x = MatmulReference.gaussian(rnd, m * cols);
        PackedFloatMatvec.Format f = half ? PackedFloatMatvec.Format.F16 : PackedFloatMatvec.Format.F32;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate((long) rows * cols * f.bytes);
            for (int i = 0; i < w.length; i++) {
                if (half) {
                    short h = Float.floatToFloat16(w[i]);
                    seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, h);
                    w[i] = Float.float16ToFloat(h);
                } else {
                    seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, w[i]);
                }
            }
            float[] y = new float[m * rows];
            PackedFloatMatvec.matmul(seg, f, rows, cols, x, m, y);
            MatmulReference.assertClose(f + " " + m + " rows " + rows + "×" + cols, y, MatmulReference.matmul(x, false, w, true, null, m, cols, rows), RTOL);
            for (int i = 0; i < m; i++) {
                float[] one = new float[rows];
                PackedFloatMatvec.matvec(seg, f, rows, cols, java.util.Arrays.copyOfRange(x, i * cols, (i + 1) * cols), one);
                org.junit.jupiter.api.Assertions.assertArrayEquals(one, java.util.Arrays.copyOfRange(y, i * rows, (i + 1) * rows), 0f,
                        f + " row " + i + " of " + m + ", " + rows + "×" + cols);
            }
        }
    }

    /** The eight-row f16 head kernel (PackedMatmulHalf8) and its four-row and one-row remainders: 8 to 16 rows, bit for bit per row. */
    @Property(tries = 20)
    void eightRowHalfHeadRowsEqualTheirMatvecs(@ForAll @IntRange(min = 8, max = 16) int m, @ForAll @IntRange(min = 1, max = 130) int rows,
                                               @ForAll @IntRange(min = 1, max = 300) int cols, @ForAll long seed) {
        floatMatmulRowsEqualTheirMatvecs(m, rows, cols, true, seed);
    }

    /**
     * The eight-row int8 tile kernel (PackedMatmulRows512.int8Tile8, off by default in the driver) against the scalar
     * one-row kernel run once per row: exact int32 sums for random codes, tables at the int16 bound and runs of
     * 1 to 28 groups, accumulating onto what acc held.
     */
    @Property(tries = 40)
    void eightRowInt8TileEqualsTheScalarKernelPerRow(@ForAll @IntRange(min = 1, max = 28) int groups, @ForAll long seed) {
        if (!(Vectorization.ENABLED && PackedVector.SUPPORTED && Vectorization.BITS == 512 && PackedMatmulRows512.ACTIVE)) return;
        Random rnd = new Random(seed);
        int stride = 64 + rnd.nextInt(3) * 64, accOff = rnd.nextInt(2) * 64;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment codes = arena.allocate((long) groups * PackedTernary.LINE, 64);
            for (long b = 0; b < codes.byteSize(); b += 2)
                codes.set(ValueLayout.JAVA_SHORT_UNALIGNED, b, (short) (rnd.nextInt(27) | rnd.nextInt(27) << 5 | rnd.nextInt(27) << 10 | rnd.nextInt(2) << 15));
            short[][] t = new short[8][PackedKernels.GROUP_TABLE * groups];
            for (short[] r : t) for (int i = 0; i < r.length; i++) r[i] = (short) (rnd.nextInt(2 * 381 + 1) - 381);
            int[] acc = new int[accOff + 8 * stride], ref = new int[acc.length];
            for (int i = 0; i < acc.length; i++) acc[i] = ref[i] = rnd.nextInt(1 << 20) - (1 << 19);
            PackedMatmulRows512.int8Tile8(t, 0, codes, 0, 0, groups, acc, accOff, stride, new short[8 * 64]);
            for (int j = 0; j < 8; j++) PackedScalar.INSTANCE.int8Tile(t[j], 0, codes, 0, 0, groups, ref, accOff + j * stride);
            org.junit.jupiter.api.Assertions.assertArrayEquals(ref, acc, groups + " groups");
        }
    }

    @Test
    void everyFiniteHalfFloatWidensExactly() {
        // The 63488 finite f16 patterns (subnormals included) as a 992×64 matrix; one-hot x picks column j,
        // so y[r] must be exactly Float.float16ToFloat of W[r][j] on both paths.
        short[] all = new short[65536];
        int n = 0;
        for (int b = 0; b < 65536; b++) if (Float.isFinite(Float.float16ToFloat((short) b))) all[n++] = (short) b;
        int cols = 64, rows = n / cols;
        assertEquals(0, n % cols);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(2L * n);
            for (int i = 0; i < n; i++) seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, all[i]);
            for (boolean vector : Vectorization.ENABLED ? new boolean[] {false, true} : new boolean[] {false})
                for (int j = 0; j < cols; j++) {
                    float[] x = new float[cols], y = new float[rows];
                    x[j] = 1f;
                    PackedFloatMatvec.matvec(vector, seg, PackedFloatMatvec.Format.F16, rows, cols, x, y);
                    for (int r = 0; r < rows; r++)
                        if (Float.compare(Math.abs(y[r]), Math.abs(Float.float16ToFloat(all[r * cols + j]))) != 0)
                            throw new AssertionError((vector ? "vector" : "scalar") + " f16 " + Integer.toHexString(all[r * cols + j] & 0xFFFF)
                                    + " widened to " + y[r]);
                }
        }
    }
}
