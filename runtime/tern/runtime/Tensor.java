package tern.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A dense, row-major tensor: a shape, an element type, and a window ({@code offset}, size) into a
 * {@link Storage}. Views (reshape, row slices) share the storage; only the tensor that allocated it frees
 * it. Kernels reach host data through {@link #segment()}, which is exactly this tensor's bytes.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final long offsetBytes;
    private final int[] shape;
    private final DType dtype;
    private final boolean owner;

    private Tensor(Storage storage, long offsetBytes, int[] shape, DType dtype, boolean owner) {
        this.storage = storage;
        this.offsetBytes = offsetBytes;
        this.shape = shape;
        this.dtype = dtype;
        this.owner = owner;
        if (offsetBytes + byteSize() > storage.byteSize())
            throw new IllegalArgumentException("tensor " + describe() + " does not fit its storage of "
                    + storage.byteSize() + " bytes at offset " + offsetBytes);
    }

    /** A new zeroed host tensor that owns its memory. */
    public static Tensor zeros(DType dtype, int... shape) {
        int[] s = checkShape(shape);
        return new Tensor(HostStorage.allocate(dtype.bytesFor(count(s))), 0, s, dtype, true);
    }

    /** A host f32 tensor holding a copy of {@code values}. */
    public static Tensor of(float[] values, int... shape) {
        Tensor t = zeros(DType.F32, shape);
        if (values.length != t.size())
            throw new IllegalArgumentException(values.length + " values for shape " + Arrays.toString(shape));
        MemorySegment.copy(values, 0, t.segment(), ValueLayout.JAVA_FLOAT, 0, values.length);
        return t;
    }

    /** A tensor over existing storage, e.g. allocated by a GPU backend or mapped from a file. */
    public static Tensor wrap(Storage storage, long offsetBytes, DType dtype, boolean owner, int... shape) {
        return new Tensor(storage, offsetBytes, checkShape(shape), dtype, owner);
    }

    // ---- shape ---------------------------------------------------------------------------------------

    public int[] shape() { return shape.clone(); }
    public int rank() { return shape.length; }
    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public DType dtype() { return dtype; }
    public Device device() { return storage.device(); }
    public Storage storage() { return storage; }
    public long offsetBytes() { return offsetBytes; }

    /** Number of elements. */
    public long size() { return count(shape); }

    public long byteSize() { return dtype.bytesFor(size()); }

    /** Rows when seen as a matrix [size / lastDim, lastDim]. */
    public int rows() { return (int) (size() / Math.max(1, dim(-1))); }

    public int cols() { return dim(-1); }

    // ---- views ---------------------------------------------------------------------------------------

    /** The same bytes under another shape with the same element count. */
    public Tensor reshape(int... newShape) {
        int[] s = checkShape(newShape);
        if (count(s) != size())
            throw new IllegalArgumentException("cannot reshape " + describe() + " to " + Arrays.toString(s));
        return new Tensor(storage, offsetBytes, s, dtype, false);
    }

    /** Rows [from, to) along the first dimension, without a copy. */
    public Tensor slice(int from, int to) {
        if (from < 0 || to > shape[0] || from > to)
            throw new IndexOutOfBoundsException("rows " + from + ".." + to + " of " + describe());
        if (dtype.bits % 8 != 0) throw new IllegalArgumentException("cannot slice packed " + describe());
        long rowBytes = dtype.bytesFor(size() / shape[0]);
        int[] s = shape.clone();
        s[0] = to - from;
        return new Tensor(storage, offsetBytes + from * rowBytes, s, dtype, false);
    }

    /** This tensor's bytes on the host. */
    public MemorySegment segment() {
        return storage.segment().asSlice(offsetBytes, byteSize());
    }

    // ---- host element access (tests, small tensors; kernels use segment()) ----------------------------

    public float get(long i) {
        requireHostF32();
        return storage.segment().getAtIndex(ValueLayout.JAVA_FLOAT, offsetBytes / 4 + i);
    }

    public void set(long i, float v) {
        requireHostF32();
        storage.segment().setAtIndex(ValueLayout.JAVA_FLOAT, offsetBytes / 4 + i, v);
    }

    public float[] toFloatArray() {
        requireHostF32();
        if (size() > Integer.MAX_VALUE - 8) throw new IllegalStateException(describe() + " is too large for an array");
        return segment().toArray(ValueLayout.JAVA_FLOAT);
    }

    public String describe() {
        return dtype + Arrays.toString(shape) + "@" + storage.device();
    }

    @Override public String toString() { return "Tensor " + describe(); }

    @Override
    public void close() {
        if (owner) storage.close();
    }

    private void requireHostF32() {
        if (dtype != DType.F32 || storage.device() != Device.CPU)
            throw new IllegalStateException("element access needs a host f32 tensor, not " + describe());
    }

    static long count(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    private static int[] checkShape(int[] shape) {
        for (int d : shape)
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
        return shape.clone();
    }
}
