package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS through FFM, for float matrix products: plain FP32 SGEMM, and GEMM with FP32 data whose inputs
 * cuBLAS may round to bf16 for the tensor cores, accumulating in FP32 (CUBLAS_COMPUTE_32F_FAST_16BF).
 * cuBLAS is column-major; a row-major C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ,
 * which needs no copies. The handle lives in the primary context, on the default stream, so its work is
 * ordered with our kernels.
 */
final class Cublas implements AutoCloseable {
    private static final String[] LIBRARIES = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
    private static final int OP_N = 0, OP_T = 1;
    private static final int CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    private static final int COMPUTE_32F = 68, COMPUTE_32F_FAST_16BF = 75;
    private static final int GEMM_DEFAULT = -1;

    private final String library;
    private final MethodHandle sgemm, gemmEx, destroy, setStream, setWorkspace;
    private long workspace, workspaceBytes;     // set by useWorkspace (0: cuBLAS's own pool)
    private final MemorySegment handle;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment alpha, betaZero, betaOne;

    private Cublas(String library, SymbolLookup lookup) throws Throwable {
        this.library = library;
        Linker linker = Linker.nativeLinker();
        MethodHandle create = linker.downcallHandle(find(lookup, "cublasCreate_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = linker.downcallHandle(find(lookup, "cublasDestroy_v2"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        sgemm = linker.downcallHandle(find(lookup, "cublasSgemm_v2"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
        gemmEx = linker.downcallHandle(find(lookup, "cublasGemmEx"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        // Only the training-step graph needs these two (cuBLAS 11.4 and later have them): optional, not a reason to lose cuBLAS.
        setStream = lookup.find("cublasSetStream_v2").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG))).orElse(null);
        setWorkspace = lookup.find("cublasSetWorkspace_v2")
                .map(f -> linker.downcallHandle(f, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG))).orElse(null);
        MemorySegment slot = arena.allocate(ADDRESS);
        check((int) create.invoke(slot), "cublasCreate");
        handle = slot.get(ADDRESS, 0);
        alpha = arena.allocateFrom(JAVA_FLOAT, 1f);
        betaZero = arena.allocateFrom(JAVA_FLOAT, 0f);
        betaOne = arena.allocateFrom(JAVA_FLOAT, 1f);
    }

    /** cuBLAS for the current context, or null when no library loads (the tiled kernel is used then). */
    static Cublas tryLoad() {
        for (String name : LIBRARIES) {
            SymbolLookup lookup;
            try {
                lookup = SymbolLookup.libraryLookup(name, Arena.global());
            } catch (IllegalArgumentException notThere) {
                continue;
            }
            try {
                return new Cublas(name, lookup);
            } catch (Throwable t) {
                return null;
            }
        }
        return null;
    }

    String library() { return library; }

    /**
     * Row-major c[m,n] = op(a)·op(b) (+ c), addresses on the device; a is [m,k] or [k,m] (transA), b is
     * [k,n] or [n,k] (transB). {@code bf16} lets cuBLAS use bf16 tensor-core inputs with FP32 accumulation.
     */
    void gemm(long a, boolean transA, long b, boolean transB, long c, int m, int n, int k, boolean accumulate, boolean bf16) {
        int opB = transB ? OP_T : OP_N, opA = transA ? OP_T : OP_N;
        int ldb = transB ? k : n, lda = transA ? m : k;
        MemorySegment beta = accumulate ? betaOne : betaZero;
        try {
            int rc;
            if (bf16) {
                rc = (int) gemmEx.invoke(handle, opB, opA, n, m, k, alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda,
                        beta, c, CUDA_R_32F, n, COMPUTE_32F_FAST_16BF, GEMM_DEFAULT);
            } else {
                rc = (int) sgemm.invoke(handle, opB, opA, n, m, k, alpha, b, ldb, a, lda, beta, c, n);
            }
            check(rc, bf16 ? "cublasGemmEx" : "cublasSgemm");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLAS call failed", t);
        }
    }

    /**
     * Row-major c[m,n] = op(a)·op(b) (+ c) with a and b stored in bf16 (or fp16, {@code f16}) and c in that type
     * ({@code c16}) or f32, accumulating in f32 (CUBLAS_COMPUTE_32F): the products of 16-bit activations, no
     * conversion on the way in.
     */
    void gemm16(long a, boolean transA, long b, boolean transB, boolean f16, long c, boolean c16, int m, int n, int k, boolean accumulate) {
        int half = f16 ? CUDA_R_16F : CUDA_R_16BF;
        int opB = transB ? OP_T : OP_N, opA = transA ? OP_T : OP_N;
        int ldb = transB ? k : n, lda = transA ? m : k;
        MemorySegment beta = accumulate ? betaOne : betaZero;
        try {
            int rc = (int) gemmEx.invoke(handle, opB, opA, n, m, k, alpha, b, half, ldb, a, half, lda,
                    beta, c, c16 ? half : CUDA_R_32F, n, COMPUTE_32F, GEMM_DEFAULT);
            check(rc, f16 ? "cublasGemmEx (fp16)" : "cublasGemmEx (bf16)");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLAS call failed", t);
        }
    }

    /**
     * Gives the handle a workspace of our own (device address, bytes) from now on. A graph capture may not
     * allocate, and cuBLAS picks its algorithms by the workspace it has: with the same fixed workspace on
     * both, a captured product and an eager one are the same kernels, so graph and eager steps give the same bits.
     */
    /** Whether this cuBLAS can be moved to another stream with a workspace of ours (what a captured step needs). */
    boolean capturable() { return setStream != null && setWorkspace != null; }

    void useWorkspace(long address, long bytes) {
        workspace = address;
        workspaceBytes = bytes;
        applyWorkspace();
    }

    /** Sends later calls to {@code stream} (0: the legacy default stream), keeping the workspace set. */
    void useStream(long stream) {
        try {
            check((int) setStream.invoke(handle, stream), "cublasSetStream");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLAS call failed", t);
        }
        applyWorkspace();                 // cublasSetStream resets the workspace to cuBLAS's own pool
    }

    private void applyWorkspace() {
        if (workspace == 0) return;
        try {
            check((int) setWorkspace.invoke(handle, workspace, workspaceBytes), "cublasSetWorkspace");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLAS call failed", t);
        }
    }

    private static void check(int status, String call) {
        if (status != 0) throw new IllegalStateException(call + " failed with cuBLAS status " + status);
    }

    private static MemorySegment find(SymbolLookup lookup, String symbol) {
        return lookup.find(symbol).orElseThrow(() -> new IllegalStateException("cuBLAS lacks " + symbol));
    }

    @Override
    public void close() {
        try {
            destroy.invoke(handle);
        } catch (Throwable ignored) {
            // the context is going away with it
        }
        arena.close();
    }
}
