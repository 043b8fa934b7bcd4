package tern.bench;

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
import tern.runtime.DType;
import tern.runtime.Tensor;
import tern.simd.FloatMatmul;

/**
 * f32 matmul. train: x [512, 1024] · W [1024, 4096] (2·512·1024·4096 flops per op); decode: x [1, 16384] ·
 * W [16384, 16384]ᵀ (1 GiB of weights per op). Divide to get GFLOP/s or GB/s.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class FloatMatmulBench {
    @Param({"train", "decode"})
    public String shape;

    private Tensor x, w, y;
    private boolean decode;

    @Setup(Level.Trial)
    public void setUp() {
        int[] s = MatmulShapes.of(shape);
        decode = s[0] == 1;
        x = MatmulShapes.random(1, s[0], s[1]);
        // decode multiplies by Wᵀ with W [out, in] as stored in a checkpoint; train by W [in, out].
        w = decode ? MatmulShapes.random(2, s[2], s[1]) : MatmulShapes.random(2, s[1], s[2]);
        y = Tensor.zeros(DType.F32, s[0], s[2]);
    }

    @Benchmark
    public Tensor matmul() {
        FloatMatmul.matmul(x, false, w, decode, y, false);
        return y;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        w.close();
        y.close();
    }
}
