package tern.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import tern.runtime.ShardAxis;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;
import tern.simd.Vectorization;

/**
 * Is a denser 1.6-bit packing worth its decode cost? A prototype of llama.cpp's TQ1_0 idea — 5 trits per
 * byte, q = ⌈256·v/243⌉ for v = Σ (t_j + 1)·3^(4−j), trit j = ((q·3^j mod 256)·3) ≫ 8 — in the same
 * 64-row tiles as the packed codes, one byte per (row, 5 columns), against the shipped int8 kernel
 * (the 2-bit "t2" nibble codes when the figures in BENCHMARKS.md were taken; now the 16/9-bit "t9" codes)
 * on the same matrix, single-threaded (so the figure is decode compute, not the shared memory bus). Both
 * use int8 activations and int16 accumulators; the base-3 trits drive masked adds and subtracts.
 * {@link #setUp} checks the prototype's output against the t2 kernel's, so the timed loop is a correct one.
 * A prototype for the measurement only: nothing ships in this format.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Dtern.threads=1"})
public class PackedBase3Benchmark {
    // At the width the kernels run at (Vectorization.BITS: 512, 256 or 128), so the prototype and the
    // shipped kernel are compared on the same registers; BH holds one byte per short lane (half the width).
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Math.max(128, Vectorization.BITS)));
    private static final VectorSpecies<Byte> BH = ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Math.max(128, Vectorization.BITS) / 2));
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Math.max(128, Vectorization.BITS)));
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final int[] POW3 = {1, 3, 9, 27, 81};

    /** out×in; in a multiple of 20 so both packings need no column padding. */
    @Param({"3072x3080", "16384x16380"})
    public String shape;

    private Arena arena;
    private PackedTernary t2;
    private MemorySegment base3;
    private int out, in;
    private float[] x, y;
    private byte[] q;
    private int[] acc;

    @Setup(Level.Trial)
    public void setUp() {
        if (!Vectorization.ENABLED) throw new IllegalStateException("the base-3 prototype needs the Vector API: " + Vectorization.describe());
        String[] d = shape.split("x");
        out = Integer.parseInt(d[0]);
        in = Integer.parseInt(d[1]);
        SplittableRandom rnd = new SplittableRandom(9);
        byte[] t = new byte[out * in];
        for (int i = 0; i < t.length; i++) t[i] = (byte) (rnd.nextInt(3) - 1);
        arena = Arena.ofShared();
        t2 = PackedTernary.pack(t, out, in, new float[] {1f}, ShardAxis.ROWS, arena.allocate(PackedTernary.bytes(out, in, 1, ShardAxis.ROWS), 64));
        base3 = packBase3(t, out, in, arena);
        x = new float[in];
        for (int i = 0; i < in; i++) x[i] = (float) rnd.nextGaussian();
        y = new float[out];
        q = new byte[in];
        acc = new int[(out + 63) / 64 * 64];
        float s = PackedMatmul.quantizeInt8(x, 0, in, q);
        PackedMatmul.matmul(t2, x, 1, y, PackedMatmul.Activations.INT8);
        base3();
        for (int r = 0; r < out; r++)
            if (acc[r] * s != y[r]) throw new IllegalStateException("base-3 prototype disagrees with t2 at row " + r + ": " + acc[r] * s + " vs " + y[r]);
    }

    static MemorySegment packBase3(byte[] t, int out, int in, Arena arena) {
        int groups = in / 5, tiles = (out + 63) / 64;
        MemorySegment m = arena.allocate((long) tiles * groups * 64, 64);
        for (int r = 0; r < out; r++)
            for (int g = 0; g < groups; g++) {
                int v = 0;
                for (int j = 0; j < 5; j++) v = v * 3 + t[r * in + 5 * g + j] + 1;
                int code = (v * 256 + 242) / 243;   // ⌈256·v/243⌉
                m.set(ValueLayout.JAVA_BYTE, ((long) (r / 64) * groups + g) * 64 + r % 64, (byte) code);
            }
        return m;
    }

    /** The t2 int8 kernel (single-threaded through -Dtern.threads=1), quantization and tables included. */
    @Benchmark
    public float[] t2Int8() {
        PackedMatmul.matmul(t2, x, 1, y, PackedMatmul.Activations.INT8);
        return y;
    }

    /** The base-3 prototype, int8 quantization included so both do the same bookkeeping. */
    @Benchmark
    public int[] base3Int8() {
        PackedMatmul.quantizeInt8(x, 0, in, q);
        base3();
        return acc;
    }

    private void base3() {
        int groups = in / 5, sl = S.length(), l = I.length();
        for (int tile = 0; tile < acc.length / 64; tile++)
            // The tile's 64 rows in chunks of one short register (2L rows), each over all groups.
            for (int k = 0; k < 64; k += sl) {
                IntVector lo = IntVector.zero(I), hi = lo;
                for (int g0 = 0; g0 < groups; g0 += 48) {                 // 48 groups · 5 · 127 < 2^15
                    ShortVector a = ShortVector.zero(S);
                    for (int g = g0; g < Math.min(groups, g0 + 48); g++) {
                        long at = ((long) tile * groups + g) * 64 + k;
                        ShortVector c = ((ShortVector) ByteVector.fromMemorySegment(BH, base3, at, ORDER).convertShape(VectorOperators.B2S, S, 0)).and((short) 0xFF);
                        for (int j = 0; j < 5; j++) {
                            ShortVector xv = ShortVector.broadcast(S, q[5 * g + j]);
                            ShortVector d = c.mul((short) POW3[j]).and((short) 0xFF).mul((short) 3).lanewise(VectorOperators.LSHR, 8);
                            a = a.add(xv, d.eq((short) 2)).sub(xv, d.eq((short) 0));
                        }
                    }
                    lo = lo.add(a.convertShape(VectorOperators.S2I, I, 0));
                    hi = hi.add(a.convertShape(VectorOperators.S2I, I, 1));
                }
                lo.intoArray(acc, tile * 64 + k);
                hi.intoArray(acc, tile * 64 + k + l);
            }
    }

    @TearDown(Level.Trial)
    public void tearDown() { arena.close(); }
}
