package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC, the run-time CUDA compiler, called through FFM. JCuda 12.0.0's own NVRTC binding is tied to
 * CUDA 12's library; calling the C API directly works with whichever major version is installed, so the
 * same jar compiles kernels for a V100 (CUDA 12) and an H100 (CUDA 13). Sources are compiled for the exact
 * architecture of the device in hand into a CUBIN, which the driver loads without a second JIT step.
 */
final class Nvrtc {
    private static final String[] LIBRARIES = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11", "libnvrtc.so"};

    private final String library;
    private final MethodHandle create, compile, destroy, logSize, log, cubinSize, cubin, version;

    private Nvrtc(String library, SymbolLookup lookup) {
        this.library = library;
        Linker linker = Linker.nativeLinker();
        create = handle(linker, lookup, "nvrtcCreateProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        compile = handle(linker, lookup, "nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        destroy = handle(linker, lookup, "nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        logSize = handle(linker, lookup, "nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        log = handle(linker, lookup, "nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cubinSize = handle(linker, lookup, "nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cubin = handle(linker, lookup, "nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        version = handle(linker, lookup, "nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** The newest NVRTC found on the library path, or an exception naming every name tried. */
    static Nvrtc load() {
        for (String name : LIBRARIES) {
            try {
                return new Nvrtc(name, SymbolLookup.libraryLookup(name, Arena.global()));
            } catch (IllegalArgumentException notThere) {
                // try the next major version
            }
        }
        throw new IllegalStateException("no NVRTC library found (tried " + String.join(", ", LIBRARIES) + ")");
    }

    String library() { return library; }

    /** "major.minor" of the loaded NVRTC. */
    String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment major = a.allocate(JAVA_INT), minor = a.allocate(JAVA_INT);
            check((int) version.invoke(major, minor), "nvrtcVersion", null);
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Compiles {@code source} (named {@code name} in messages) to a CUBIN for sm_{arch}. */
    byte[] compile(String source, String name, int arch) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment progSlot = a.allocate(ADDRESS);
            check((int) create.invoke(progSlot, a.allocateFrom(source), a.allocateFrom(name), 0,
                    MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram", null);
            MemorySegment prog = progSlot.get(ADDRESS, 0);
            try {
                String[] options = {"--gpu-architecture=sm_" + arch, "--std=c++17", "-default-device"};
                MemorySegment opts = a.allocate(ADDRESS, options.length);
                for (int i = 0; i < options.length; i++) opts.setAtIndex(ADDRESS, i, a.allocateFrom(options[i]));
                int rc = (int) compile.invoke(prog, options.length, opts);
                if (rc != 0) throw new IllegalStateException("NVRTC could not compile " + name + " for sm_" + arch
                        + " (error " + rc + "):\n" + programLog(a, prog));
                MemorySegment size = a.allocate(JAVA_LONG);
                check((int) cubinSize.invoke(prog, size), "nvrtcGetCUBINSize", name);
                MemorySegment buf = a.allocate(size.get(JAVA_LONG, 0));
                check((int) cubin.invoke(prog, buf), "nvrtcGetCUBIN", name);
                return buf.toArray(JAVA_BYTE);
            } finally {
                destroy.invoke(progSlot);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("NVRTC call failed for " + name, t);
        }
    }

    private String programLog(Arena a, MemorySegment prog) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        if ((int) logSize.invoke(prog, size) != 0) return "(no log)";
        MemorySegment buf = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        if ((int) log.invoke(prog, buf) != 0) return "(no log)";
        return new String(buf.toArray(JAVA_BYTE), StandardCharsets.UTF_8).trim();
    }

    private static void check(int rc, String call, String name) {
        if (rc != 0) throw new IllegalStateException(call + " failed with NVRTC error " + rc + (name == null ? "" : " for " + name));
    }

    private static MethodHandle handle(Linker linker, SymbolLookup lookup, String symbol, FunctionDescriptor fd) {
        return linker.downcallHandle(lookup.find(symbol)
                .orElseThrow(() -> new IllegalStateException("NVRTC lacks " + symbol)), fd);
    }
}
