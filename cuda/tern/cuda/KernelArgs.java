package tern.cuda;

import java.util.ArrayList;
import java.util.List;

import jcuda.NativePointerObject;
import jcuda.Pointer;

/**
 * The argument list of one kernel launch, in the kernel's parameter order. Device pointers are passed as
 * their 64-bit addresses; {@code long} parameters of the kernels are 64-bit on the LP64 targets NVRTC
 * compiles for.
 */
final class KernelArgs {
    private final List<NativePointerObject> values = new ArrayList<>();

    static KernelArgs of() { return new KernelArgs(); }

    KernelArgs ptr(long address) { values.add(Pointer.to(new long[]{address})); return this; }

    KernelArgs i32(int v) { values.add(Pointer.to(new int[]{v})); return this; }

    KernelArgs i32(boolean v) { return i32(v ? 1 : 0); }

    KernelArgs i64(long v) { values.add(Pointer.to(new long[]{v})); return this; }

    KernelArgs f32(float v) { values.add(Pointer.to(new float[]{v})); return this; }

    Pointer pointer() { return Pointer.to(values.toArray(new NativePointerObject[0])); }
}
