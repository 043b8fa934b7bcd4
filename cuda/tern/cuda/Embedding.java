package tern.cuda;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.suffix;

/**
 * Launches embedding.cu: the row gather, and its deterministic backward (each id's row summed by one block
 * over the positions holding it, in increasing order: {@link #positionsById}). Ids and tensors were checked
 * by {@link CudaBackend}.
 */
final class Embedding {
    static final String MODULE = "embedding";
    static final KernelTable KERNELS = KernelTable.of(MODULE).typed("embedding_fwd", "p p i i p").typed("embedding_bwd", "p p i i p");
    private static final int THREADS = 256;

    private final Kernels kernels;
    private final CudaContext context;
    private final Scratch scratch;

    Embedding(Kernels kernels, CudaContext context, Scratch scratch) {
        this.kernels = kernels;
        this.context = context;
        this.scratch = scratch;
    }

    /** At least one id. */
    void forward(Tensor table, int[] ids, Tensor out) {
        long d = scratch.upload(ids);
        kernels.launch(MODULE, "embedding_fwd" + suffix(out), Math.min(ids.length, context.multiprocessors * 16), THREADS,
                KernelArgs.of().ptr(addressOf(table)).ptr(d).i32(ids.length).i32(table.cols()).ptr(addressOf(out)));
    }

    /**
     * At least one id. The grouping's layout depends only on the number of ids (the unique count is read by
     * the kernel), and so do the launch's grid and arguments: a step replayed as a graph repeats it with new ids.
     */
    void backward(Tensor dout, int[] ids, Tensor dtable) {
        int n = ids.length;
        long d = scratch.upload(positionsById(ids));
        kernels.launch(MODULE, "embedding_bwd" + suffix(dout), Math.min(n, context.multiprocessors * 16), THREADS,
                KernelArgs.of().ptr(addressOf(dout)).ptr(d).i32(n).i32(dtable.cols()).ptr(addressOf(dtable)));
    }

    /**
     * The positions of {@code ids} (n of them) grouped by id, for the deterministic embedding backward, at
     * offsets fixed by n: [ids in increasing order (U used of n) | starts (U + 1 used of n + 1) | positions (n),
     * increasing within an id | U], 3n + 2 ints; the last is U, the number of distinct ids.
     */
    static int[] positionsById(int[] ids) {
        int n = ids.length;
        long[] keyed = new long[n];
        for (int i = 0; i < n; i++) keyed[i] = ((long) ids[i] << 32) | i;
        java.util.Arrays.sort(keyed);                  // by id, then by position
        int[] csr = new int[3 * n + 2];
        int u = 0;
        for (int i = 0; i < n; i++) {
            int id = (int) (keyed[i] >>> 32);
            if (i == 0 || id != (int) (keyed[i - 1] >>> 32)) {
                csr[u] = id;
                csr[n + u] = i;
                u++;
            }
            csr[2 * n + 1 + i] = (int) keyed[i];
        }
        csr[n + u] = n;
        csr[3 * n + 1] = u;
        return csr;
    }
}
