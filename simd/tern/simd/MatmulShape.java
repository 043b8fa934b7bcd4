package tern.simd;

import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Tensor;

/**
 * The checked sizes of c [m, n] ← op(a) [m, k] · op(b) [k, n]. Tensors are seen as matrices
 * (rows × last dimension); any mismatch is an IllegalArgumentException naming every shape involved.
 */
record MatmulShape(int m, int k, int n) {

    static MatmulShape of(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c) {
        requireHostF32("a", a);
        requireHostF32("b", b);
        requireHostF32("c", c);
        int m = transA ? a.cols() : a.rows(), k = transA ? a.rows() : a.cols();
        int kb = transB ? b.cols() : b.rows(), n = transB ? b.rows() : b.cols();
        if (k != kb || c.rows() != m || c.cols() != n)
            throw new IllegalArgumentException("matmul shapes do not fit: a " + a.describe() + (transA ? "ᵀ" : "")
                    + " · b " + b.describe() + (transB ? "ᵀ" : "") + " → c " + c.describe()
                    + " (need op(a) [m,k], op(b) [k,n], c [m,n])");
        return new MatmulShape(m, k, n);
    }

    static void requireHostF32(String name, Tensor t) {
        if (t.dtype() != DType.F32 || t.device() != Device.CPU)
            throw new IllegalArgumentException(name + " must be a host f32 tensor, not " + t.describe());
    }
}
