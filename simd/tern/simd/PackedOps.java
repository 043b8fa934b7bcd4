package tern.simd;

import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The CPU backend's ops on what a packed model file holds, read in place: ternary weights in the t9 layout
 * ({@link PackedTernary}, {@link DType#T9} tensors) through {@link PackedMatmul}, and f16 matrices (the
 * embedding and LM head of a file packed with f16 floats) through {@link PackedFloatMatvec}. Activations
 * are copied to and from heap arrays (the kernels' interface): at most a few rows of hidden or FFN width
 * per call, next to megabytes of weights. The products run on the caller's {@link KernelProvider}, so
 * {@link CpuBackend#scalar()} serves a packed file on the scalar kernels too.
 */
final class PackedOps {
    private PackedOps() {}

    static boolean isT9(TernaryWeights w) { return w.packed().dtype() == DType.T9; }

    /**
     * Each t9 weight's geometry, made at its first use and reused by every later product: made per call
     * (two arrays, a copy of the scales, the size check) it was part of the serial set-up on the calling
     * thread, about a hundred calls a decode step. Keyed by the weights record (its codes tensor by identity,
     * shape, axis, scales array by identity), weakly, so an entry goes with its model; nothing in the value
     * refers to the key. A hit whose scales no longer equal the weights' (the array changed in place) is made
     * again, so the cache never serves a stale scale, and weights that differ in any component never share one.
     */
    private static final Map<TernaryWeights, PackedTernary> GEOMETRY = new WeakHashMap<>();

    /** A t9 tensor's geometry, its size checked against the shape and sharding (made once per weights, see {@link #GEOMETRY}). */
    static PackedTernary geometry(TernaryWeights w) {
        synchronized (GEOMETRY) {
            PackedTernary p = GEOMETRY.get(w);
            if (p != null && Arrays.equals(p.scales(), w.scales())) return p;
        }
        PackedTernary p = PackedTernary.of(w.packed().segment(), w.rows(), w.cols(), w.scales(), w.axis());
        synchronized (GEOMETRY) {
            GEOMETRY.put(w, p);
        }
        return p;
    }

    /**
     * A t9 tensor as ternary weights, validated; with int8 activations already chosen, the kernels' own copy
     * (a repack, {@link PackedKernels#prepare}) is built now, else at the first int8 product (a float run
     * never pays its memory).
     */
    static TernaryWeights load(KernelProvider provider, PackedMatmul.Activations activations, Tensor codes, int rows, int cols,
                               float[] scales, ShardAxis axis) {
        if (codes.dtype() != DType.T9 || codes.device() != Device.CPU)
            throw new IllegalArgumentException("loadTernary: codes must be a host T9 tensor, got " + codes.describe());
        TernaryWeights w = new TernaryWeights(codes, rows, cols, scales.clone(), axis);
        PackedTernary p = geometry(w);                 // validates sizes and scales now, not at the first product
        if (activations == PackedMatmul.Activations.INT8) provider.packed().prepare(p);
        return w;
    }

    /** ys[i] ← x · (γT_i)ᵀ (+ ys[i] when accumulate) for t9 matrices that share their input's columns. */
    static void matmul(KernelProvider provider, Tensor x, TernaryWeights[] ws, Tensor[] ys, boolean accumulate, PackedMatmul.Activations activations) {
        if (ws.length != ys.length) throw new IllegalArgumentException(ws.length + " matrices but " + ys.length + " outputs");
        int m = x.rows();
        PackedTernary[] ps = new PackedTernary[ws.length];
        float[][] out = new float[ws.length][];
        for (int i = 0; i < ws.length; i++) {
            Shapes.requireHostF32("ternaryMatmul", "y", ys[i]);
            Shapes.requireMatrix("ternaryMatmul", "y", ys[i], m, ws[i].rows());
            ps[i] = geometry(ws[i]);
            out[i] = new float[m * ws[i].rows()];
        }
        Shapes.requireHostF32("ternaryMatmul", "x", x);
        Shapes.requireMatrix("ternaryMatmul", "x", x, m, ws[0].cols());
        PackedMatmul.matmul(provider.packed(), ps, x.toFloatArray(), m, out, activations);
        for (int i = 0; i < ws.length; i++) store(out[i], ys[i], accumulate);
    }

    /** c [m, rows] ← a [m, cols] · Wᵀ for an f16 W [rows, cols] (the LM head); W streams once per call. */
    static void matmulF16(KernelProvider provider, Tensor a, Tensor w, Tensor c, boolean accumulate) {
        Shapes.requireHostF32("matmul", "a", a);
        Shapes.requireHostF32("matmul", "c", c);
        int m = a.rows(), rows = w.rows(), cols = w.cols();
        Shapes.requireMatrix("matmul", "a", a, m, cols);
        Shapes.requireMatrix("matmul", "c", c, m, rows);
        float[] y = new float[m * rows];
        PackedFloatMatvec.matmul(provider.vector() && PackedFloatMatvec.VECTOR, w.segment(), PackedFloatMatvec.Format.F16, rows, cols, a.toFloatArray(), m, y);
        store(y, c, accumulate);
    }

    /** out [n, cols] ← rows ids[i] of an f16 table, widened to f32. */
    static void embeddingF16(Tensor table, int[] ids, Tensor out) {
        Shapes.requireHostF32("embedding", "out", out);
        Shapes.requireMatrix("embedding", "out", out, ids.length, table.cols());
        Embedding.checkIds("embedding", ids, table.rows());
        int cols = table.cols();
        float[] row = new float[ids.length * cols];
        for (int i = 0; i < ids.length; i++) PackedFloatMatvec.row(table.segment(), PackedFloatMatvec.Format.F16, cols, ids[i], row, i * cols);
        MemorySegment.copy(row, 0, out.segment(), ValueLayout.JAVA_FLOAT, 0, row.length);
    }

    private static void store(float[] v, Tensor t, boolean accumulate) {
        MemorySegment s = t.segment();
        if (!accumulate) {
            MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length);
            return;
        }
        for (int i = 0; i < v.length; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, s.getAtIndex(ValueLayout.JAVA_FLOAT, i) + v[i]);
    }
}
