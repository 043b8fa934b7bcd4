package tern.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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

/**
 * Packed ternary inference kernels ({@link PackedMatmul}) at decode shapes of the Spectra 3.9B model
 * (hidden 3072, GLU 9216) and one 16384² matrix beyond the L3, for 1 and 4 activation rows, with float
 * and int8 activations: the measurement behind "keep whichever is faster per shape".
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class PackedMatmulBenchmark {
    /** out×in: 3.9B attention (3072²), 3.9B gate/up (9216×3072), 3.9B down (3072×9216), 16384². */
    @Param({"3072x3072", "9216x3072", "3072x9216", "16384x16384"})
    public String shape;

    @Param({"1", "4"})
    public int rows;

    @Param({"FLOAT", "INT8"})
    public PackedMatmul.Activations activations;

    private Arena arena;
    private PackedTernary w;
    private float[] x, y;

    @Setup(Level.Trial)
    public void setUp() {
        String[] d = shape.split("x");
        int out = Integer.parseInt(d[0]), in = Integer.parseInt(d[1]);
        SplittableRandom rnd = new SplittableRandom(3);
        byte[] t = new byte[out * in];
        for (int i = 0; i < t.length; i++) t[i] = (byte) (rnd.nextInt(3) - 1);
        arena = Arena.ofShared();
        MemorySegment codes = arena.allocate(PackedTernary.bytes(out, in, 1, ShardAxis.ROWS), 64);
        w = PackedTernary.pack(t, out, in, new float[] {0.01f}, ShardAxis.ROWS, codes);
        x = new float[rows * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        y = new float[rows * out];
    }

    @Benchmark
    public float[] matmul() {
        PackedMatmul.matmul(w, x, rows, y, activations);
        return y;
    }

    @TearDown(Level.Trial)
    public void tearDown() { arena.close(); }
}
