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
    private final char[] kinds = new char[MAX];     // p pointer, i int, l long, f float (for error messages)
    private int count;

    static KernelArgs of() { return new KernelArgs(); }

    private KernelArgs add(long v, int width, char kind) {
        if (count == MAX) throw new IllegalStateException("more than " + MAX + " kernel arguments");
        bits[count] = v;
        kinds[count] = kind;
        widths[count++] = (byte) width;
        return this;
    }

    KernelArgs ptr(long address) { return add(address, 8, 'p'); }

    KernelArgs i32(int v) { return add(v, 4, 'i'); }

    KernelArgs i32(boolean v) { return i32(v ? 1 : 0); }

    KernelArgs i64(long v) { return add(v, 8, 'l'); }

    KernelArgs f32(float v) { return add(Float.floatToRawIntBits(v), 4, 'f'); }

    int count() { return count; }

    /** The value of argument i as stored (ints sign-extended, floats by their bits): what a graph check compares. */
    long bits(int i) { return bits[i]; }

    /** Bytes of argument i. */
    int width(int i) { return widths[i]; }

    /** The kind of argument i: 'p', 'i', 'l' or 'f' (KernelTable's letters). */
    char kindCode(int i) { return kinds[i]; }

    /** "pointer", "int", "long" or "float". */
    String kind(int i) {
        return switch (kinds[i]) {
            case 'p' -> "a pointer";
            case 'i' -> "an int";
            case 'l' -> "a long";
            default -> "a float";
        };
    }

    /** The argument kinds in order, e.g. "(p p i f)". */
    String describe() {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < count; i++) b.append(i == 0 ? "" : " ").append(kinds[i]);
        return b.append(')').toString();
    }

    /** Writes argument i into its 8-byte slot i of {@code slots}. */
    void writeTo(MemorySegment slots) {
        for (int i = 0; i < count; i++) {
            if (widths[i] == 8) slots.set(ValueLayout.JAVA_LONG, 8L * i, bits[i]);
            else slots.set(ValueLayout.JAVA_INT, 8L * i, (int) bits[i]);
        }
    }
}
