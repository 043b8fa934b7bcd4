package tern.simd;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import tern.runtime.AdamWParams;
import tern.runtime.DType;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;

/** Every op refuses mismatched shapes with an IllegalArgumentException that names the op and the shapes. */
class ShapeValidationTest {
    private final CpuBackend be = CpuBackend.create();

    private static Tensor t(int... shape) {
        return Tensor.zeros(DType.F32, shape);
    }

    private static void rejects(String op, String shape, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, op);
        assertTrue(e.getMessage().contains(op), "message should name " + op + ": " + e.getMessage());
        assertTrue(e.getMessage().contains(shape), "message should name shape " + shape + ": " + e.getMessage());
    }

    @Test
    void elementwise() {
        rejects("add", "[3, 5]", () -> be.add(t(3, 4), t(3, 5), t(3, 4)));
        rejects("add", "[2, 4]", () -> be.add(t(3, 4), t(3, 4), t(2, 4)));
        rejects("axpy", "[7]", () -> be.axpy(1f, t(6), t(7)));
        rejects("adamw", "[5]", () -> be.adamw(t(4), t(4), t(5), t(4), new AdamWParams(1e-3f, 0.9f, 0.95f, 1e-8f, 0, 1, 1)));
        rejects("swiglu", "[9]", () -> be.swiglu(t(8), t(9), t(8)));
        rejects("swigluBackward", "[3]", () -> be.swigluBackward(t(4), t(4), t(4), t(4), t(3)));
        rejects("add", "I32", () -> be.add(Tensor.zeros(DType.I32, 4), t(4), t(4)));
    }

    @Test
    void quantizers() {
        rejects("quantizeTernary", "[4, 4]", () -> be.quantizeTernary(t(4, 5), 1, ShardAxis.ROWS, 1e-5f, t(4, 4)));
        rejects("quantizeBinary", "[5, 4]", () -> be.quantizeBinary(t(4, 5), Granularity.ROW, t(5, 4)));
        rejects("quantizeSymmetric", "[4, 6]", () -> be.quantizeSymmetric(t(4, 5), 8, Granularity.ROW, t(4, 6)));
    }

    @Test
    void layers() {
        rejects("embedding", "[3, 5]", () -> be.embedding(t(10, 4), new int[] {1, 2, 3}, t(3, 5)));
        rejects("embeddingBackward", "[2, 4]", () -> be.embeddingBackward(t(2, 4), new int[] {1, 2, 3}, t(10, 4)));
        rejects("rmsnorm", "[5]", () -> be.rmsnorm(t(3, 4), t(5), 1e-5f, t(3, 4), t(3)));
        rejects("rmsnorm", "[2]", () -> be.rmsnorm(t(3, 4), t(4), 1e-5f, t(3, 4), t(2)));
        rejects("rmsnormBackward", "[3, 5]", () -> be.rmsnormBackward(t(3, 4), t(3, 4), t(4), t(3), t(3, 5), t(4)));
        rejects("rope", "[4, 12]", () -> be.rope(t(4, 12), 2, 2, 8, 10000f, 0, false, t(4, 12)));
        rejects("rope", "[3, 16]", () -> be.rope(t(3, 16), 2, 2, 8, 10000f, 0, false, t(3, 16)));
        rejects("rope", "headDim", () -> be.rope(t(4, 6), 2, 2, 3, 10000f, 0, false, t(4, 6)));
        rejects("crossEntropy", "[3, 7]", () -> be.crossEntropy(t(3, 7), new int[] {1, 2}, null, 1f));
        rejects("crossEntropy", "[3, 8]", () -> be.crossEntropy(t(3, 7), new int[] {1, 2, 3}, t(3, 8), 1f));
    }

    @Test
    void attention() {
        // batch 2, qLen 3, kvLen 4, heads 2, headDim 4: q [6, 8], k/v [8, 8], lse 12
        rejects("attention", "[6, 8]", () -> be.attention(t(6, 8), t(6, 8), t(8, 8), 2, 3, 4, 2, 4, t(6, 8), t(12)));
        rejects("attention", "kvLen", () -> be.attention(t(6, 8), t(4, 8), t(4, 8), 2, 3, 2, 2, 4, t(6, 8), t(12)));
        rejects("attention", "[10]", () -> be.attention(t(6, 8), t(8, 8), t(8, 8), 2, 3, 4, 2, 4, t(6, 8), t(10)));
        rejects("attentionBackward", "[6, 8]", () -> be.attentionBackward(t(6, 8), t(6, 8), t(8, 8), t(8, 8), t(6, 8), t(12),
                2, 3, 4, 2, 4, t(6, 8), t(6, 8), t(8, 8)));
    }
}
