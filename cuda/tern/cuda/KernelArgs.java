package tern.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The argument list of one kernel launch, in the kernel's parameter order: device pointers as their
 * 64-bit addresses, {@code int}, {@code long} (64-bit on the LP64 targets NVRTC compiles for) and
 * {@code float} values. Kept on the heap until {@link DriverLaunch} copies it into its native slots.
 */
final class KernelArgs {
    static final int MAX = 24;

    private final long[] bits = new long[MAX];
    private final byte[] widths = new byte[MAX];
    private int count;

    static KernelArgs of() { return new KernelArgs(); }

    private KernelArgs add(long v, int width) {
        if (count == MAX) throw new IllegalStateException("more than " + MAX + " kernel arguments");
        bits[count] = v;
        widths[count++] = (byte) width;
        return this;
    }

    KernelArgs ptr(long address) { return add(address, 8); }

    KernelArgs i32(int v) { return add(v, 4); }

    KernelArgs i32(boolean v) { return i32(v ? 1 : 0); }

    KernelArgs i64(long v) { return add(v, 8); }

    KernelArgs f32(float v) { return add(Float.floatToRawIntBits(v), 4); }

    int count() { return count; }

    /** Writes argument i into its 8-byte slot i of {@code slots}. */
    void writeTo(MemorySegment slots) {
        for (int i = 0; i < count; i++) {
            if (widths[i] == 8) slots.set(ValueLayout.JAVA_LONG, 8L * i, bits[i]);
            else slots.set(ValueLayout.JAVA_INT, 8L * i, (int) bits[i]);
        }
    }
}
