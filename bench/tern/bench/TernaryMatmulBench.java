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
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;
import tern.simd.TernaryMatmul;

/**
 * Ternary matmul on packed weights, the shapes of {@link FloatMatmulBench}: forward y = x·(γT)ᵀ, input
 * gradient dx = dy·(γT) (train only), and packing (quantize + both panels) of the train matrix.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class TernaryMatmulBench {
    @Param({"train", "decode"})
    public String shape;

    private Tensor x, w, y, dx;
    private TernaryWeights packed;

    @Setup(Level.Trial)
    public void setUp() {
        int[] s = MatmulShapes.of(shape);
        x = MatmulShapes.random(1, s[0], s[1]);
        w = MatmulShapes.random(2, s[2], s[1]);
        packed = TernaryMatmul.pack(w, 1, ShardAxis.ROWS, 1e-5f);
        y = Tensor.zeros(DType.F32, s[0], s[2]);
        dx = Tensor.zeros(DType.F32, s[0], s[1]);
    }

    @Benchmark
    public Tensor forward() {
        TernaryMatmul.forward(x, packed, y, false);
        return y;
    }

    @Benchmark
    public Tensor backward() {
        TernaryMatmul.backward(y, packed, dx, false);
        return dx;
    }

    @Benchmark
    public TernaryWeights pack() {
        TernaryWeights p = TernaryMatmul.pack(w, 1, ShardAxis.ROWS, 1e-5f);
        p.close();
        return p;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        packed.close();
        x.close();
        w.close();
        y.close();
        dx.close();
    }
}
