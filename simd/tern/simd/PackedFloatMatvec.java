package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The float tensors of a packed model file read in place: y = W·x for the LM head and row lookups for
 * the embedding, with W [rows, cols] stored as little-endian f32 or IEEE f16 (half the bytes: the LM
 * head is most of a small TriLM's decode traffic). Rows are claimed in pieces by the caller and
 * {@link Parallel}'s workers ({@link Parallel#shared}).
 */
public final class PackedFloatMatvec {
    /** Element type of a stored float matrix. */
    public enum Format {
        F32(4), F16(2);
        public final int bytes;
        Format(int bytes) { this.bytes = bytes; }
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final boolean VECTOR = Vectorization.ENABLED && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
    /** Eight rows per widened f16 vector ({@link PackedMatmulHalf8}); {@code -Dtern.head.rows8=false}: four, as before. */
    private static final boolean HALF8 = Boolean.parseBoolean(System.getProperty("tern.head.rows8", "true"));

    private PackedFloatMatvec() {}

    /** y[r] ← Σ_c W[r][c]·x[c] for r &lt; rows (sums in f32). */
    public static void matvec(MemorySegment w, Format format, int rows, int cols, float[] x, float[] y) {
        matvec(VECTOR, w, format, rows, cols, x, y);
    }

    static void matvec(boolean vector, MemorySegment w, Format format, int rows, int cols, float[] x, float[] y) {
        if (w.byteSize() != (long) rows * cols * format.bytes)
            throw new IllegalArgumentException(rows + "×" + cols + " " + format + " needs " + (long) rows * cols * format.bytes
                    + " bytes, got " + w.byteSize());
        if (x.length < cols || y.length < rows)
            throw new IllegalArgumentException("x needs " + cols + " values and y " + rows + ", got " + x.length + " and " + y.length);
        // Pieces of ≥ 16 KiB, about 8 per thread, claimed by the caller and the workers (Parallel.shared).
        int grain = Math.max(Math.max(1, (1 << 14) / Math.max(1, cols * format.bytes)), (rows + 8 * Parallel.THREADS - 1) / (8 * Parallel.THREADS));
        Parallel.shared(rows, grain, (r0, r1) -> {
            if (vector) PackedFloatVector.rows(w, format == Format.F16, cols, x, y, r0, r1);
            else scalarRows(w, format, cols, x, y, r0, r1);
        });
    }

    /**
     * y[i·rows + r] ← Σ_c W[r][c]·x[i·cols + c] for m activation rows: each piece of W's rows is read from
     * memory once and reused from cache for every activation row (batched decode's LM head).
     */
    public static void matmul(MemorySegment w, Format format, int rows, int cols, float[] x, int m, float[] y) {
        matmul(VECTOR, w, format, rows, cols, x, m, y);
    }

    /** {@link #matmul} on the vector rows or the scalar ones (a backend's {@link KernelProvider} says which). */
    static void matmul(boolean vector, MemorySegment w, Format format, int rows, int cols, float[] x, int m, float[] y) {
        if (m == 1) { matvec(vector, w, format, rows, cols, x, y); return; }
        if (w.byteSize() != (long) rows * cols * format.bytes)
            throw new IllegalArgumentException(rows + "×" + cols + " " + format + " needs " + (long) rows * cols * format.bytes
                    + " bytes, got " + w.byteSize());
        if (m < 1 || x.length < (long) m * cols || y.length < (long) m * rows)
            throw new IllegalArgumentException(m + " rows need x of " + (long) m * cols + " and y of " + (long) m * rows
                    + " values, got " + x.length + " and " + y.length);
        int grain = Math.max(Math.max(1, (1 << 14) / Math.max(1, cols * format.bytes)), (rows + 8 * Parallel.THREADS - 1) / (8 * Parallel.THREADS));
        Parallel.shared(rows, grain, (r0, r1) -> {
            float[] xi = new float[cols], yi = new float[r1];
            int i = 0;
            if (VECTOR && format == Format.F16) {          // f16 widened once for eight or four activation rows
                if (HALF8) for (; i + PackedMatmulHalf8.ROWS <= m; i += PackedMatmulHalf8.ROWS) PackedMatmulHalf8.rows(w, cols, x, i, y, rows, r0, r1);
                for (; i + 4 <= m; i += 4) PackedMatmulHalf4.rows(w, cols, x, i, y, rows, r0, r1);
            }
            for (; i < m; i++) {
                System.arraycopy(x, i * cols, xi, 0, cols);
                if (vector) PackedFloatVector.rows(w, format == Format.F16, cols, xi, yi, r0, r1);
                else scalarRows(w, format, cols, xi, yi, r0, r1);
                System.arraycopy(yi, r0, y, i * rows + r0, r1 - r0);
            }
        });
    }

    private static void scalarRows(MemorySegment w, Format format, int cols, float[] x, float[] y, int r0, int r1) {
        for (int r = r0; r < r1; r++) {
            long base = (long) r * cols;
            float s = 0f;
            for (int c = 0; c < cols; c++) s += element(w, format, base + c) * x[c];
            y[r] = s;
        }
    }

    /** dst[off + c] ← W[row][c]: one embedding row as f32. */
    public static void row(MemorySegment w, Format format, int cols, int row, float[] dst, int off) {
        long base = (long) row * cols;
        for (int c = 0; c < cols; c++) dst[off + c] = element(w, format, base + c);
    }

    static float element(MemorySegment w, Format format, long i) {
        return format == Format.F32 ? w.get(F32, 4 * i) : Float.float16ToFloat(w.get(F16, 2 * i));
    }
}
