package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A kernel's parameter list as the driver knows it from the loaded module (cuFuncGetParamInfo: each
 * parameter's size), checked against a launch's {@link KernelArgs} before the launch. cuLaunchKernel itself
 * checks nothing: an argument missing, extra or of the wrong width shifts every later one and the kernel
 * reads garbage (or faults far from the cause); here it is an error naming the kernel and the argument.
 * Drivers before CUDA 12.4 lack the call; there the kernel's declaration in its launcher's
 * {@link KernelTable} is what a launch is checked against. With both, the declaration is checked against
 * the driver's sizes when the function is loaded, and every launch against the declaration, which also
 * tells an int from a float and a pointer from a long (the same widths).
 */
final class KernelSignature {
    private static final MethodHandle PARAM_INFO = lookup();

    private final String kernel;
    private final int[] sizes;
    private final String kinds;          // compact KernelTable kinds ("ppif"), or null: sizes only

    KernelSignature(String kernel, int[] sizes) {
        this.kernel = kernel;
        this.sizes = sizes.clone();
        this.kinds = null;
    }

    private KernelSignature(String kernel, String kinds) {
        this.kernel = kernel;
        this.kinds = kinds;
        this.sizes = new int[kinds.length()];
        for (int i = 0; i < sizes.length; i++) sizes[i] = kinds.charAt(i) == 'p' || kinds.charAt(i) == 'l' ? 8 : 4;
    }

    /** The signature its launcher declares for {@code kernel} (KernelTable), or null when none does. */
    static KernelSignature declared(String kernel) {
        String k = KernelTable.kindsOf(kernel);
        return k == null ? null : new KernelSignature(kernel, k);
    }

    /** Throws when the loaded function's parameters ({@code loaded}, from the driver) differ from this declaration. */
    void requireSameSizes(KernelSignature loaded) {
        if (!Arrays.equals(sizes, loaded.sizes))
            throw new IllegalStateException("CUDA kernel " + kernel + " is declared with parameters " + describeKinds() + " " + describe()
                    + " but the loaded module's function has " + loaded.describe());
    }

    private static MethodHandle lookup() {
        try {
            Optional<MemorySegment> f = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("cuFuncGetParamInfo");
            return f.map(s -> Linker.nativeLinker().downcallHandle(s,
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS))).orElse(null);
        } catch (RuntimeException e) {
            return null;                     // no driver library here: nothing to check against
        }
    }

    /** The signature of a loaded function, or null when the driver cannot tell. */
    static KernelSignature of(String kernel, KernelFunction f) {
        if (PARAM_INFO == null) return null;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment offset = arena.allocate(JAVA_LONG), size = arena.allocate(JAVA_LONG);
            int[] sizes = new int[KernelArgs.MAX + 1];
            int n = 0;
            while (n < sizes.length) {
                int rc = (int) PARAM_INFO.invokeExact(MemorySegment.ofAddress(f.handle()), (long) n, offset, size);
                if (rc != 0) break;          // CUDA_ERROR_INVALID_VALUE past the last parameter
                sizes[n++] = (int) size.get(JAVA_LONG, 0);
            }
            return new KernelSignature(kernel, Arrays.copyOf(sizes, n));
        } catch (Throwable t) {
            return null;
        }
    }

    /** Throws when {@code args} does not fit: a different count, or an argument of another width. */
    void check(KernelArgs args) {
        if (args.count() != sizes.length)
            throw new IllegalArgumentException("CUDA kernel " + kernel + " takes " + sizes.length + " arguments " + describe()
                    + ", the launch passes " + args.count() + " " + args.describe());
        for (int i = 0; i < sizes.length; i++)
            if (args.width(i) != sizes[i])
                throw new IllegalArgumentException("CUDA kernel " + kernel + ": argument " + i + " is " + args.kind(i) + " ("
                        + args.width(i) + " bytes) but the kernel's parameter " + i + " has " + sizes[i] + " bytes; parameters "
                        + describe() + ", launch " + args.describe());
        if (kinds != null)
            for (int i = 0; i < sizes.length; i++)
                if (args.kindCode(i) != kinds.charAt(i))
                    throw new IllegalArgumentException("CUDA kernel " + kernel + ": argument " + i + " is " + args.kind(i)
                            + " but parameter " + i + " is declared '" + kinds.charAt(i) + "'; declared " + describeKinds()
                            + ", launch " + args.describe());
    }

    private String describeKinds() {
        return kinds == null ? "(?)" : "(" + String.join(" ", kinds.split("")) + ")";
    }

    private String describe() {
        StringBuilder b = new StringBuilder("(bytes");
        for (int s : sizes) b.append(' ').append(s);
        return b.append(')').toString();
    }
}
