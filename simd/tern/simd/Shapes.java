package tern.simd;

import java.util.Arrays;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Tensor;

/** Argument checks shared by the CPU ops: every failure names the op and the offending shapes. */
final class Shapes {
    private Shapes() {}

    /** A host f32 tensor; {@code role} names it in the message ("x", "weight", ...). */
    static void requireHostF32(String op, String role, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + role + " is null");
        if (t.dtype() != DType.F32 || t.device() != Device.CPU)
            throw new IllegalArgumentException(op + ": " + role + " must be a host f32 tensor, got " + t.describe());
    }

    static void requireSameSize(String op, String roleA, Tensor a, String roleB, Tensor b) {
        if (a.size() != b.size())
            throw new IllegalArgumentException(op + ": " + roleA + " " + a.describe() + " and " + roleB + " "
                    + b.describe() + " differ in size");
    }

    /** rows × cols of t seen as a matrix must be exactly the expected ones. */
    static void requireMatrix(String op, String role, Tensor t, long rows, long cols) {
        if (t.rows() != rows || t.cols() != cols || (long) t.rows() * t.cols() != t.size())
            throw new IllegalArgumentException(op + ": " + role + " " + t.describe() + " should be [" + rows + ", "
                    + cols + "]" );
    }

    static void requireSize(String op, String role, Tensor t, long size) {
        if (t.size() != size)
            throw new IllegalArgumentException(op + ": " + role + " " + t.describe() + " should have " + size
                    + " elements");
    }

    static void require(boolean ok, String op, String what) {
        if (!ok) throw new IllegalArgumentException(op + ": " + what);
    }

    static String shape(Tensor t) {
        return Arrays.toString(t.shape());
    }
}
