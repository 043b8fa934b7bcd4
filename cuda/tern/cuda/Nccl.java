package tern.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NCCL through FFM, as cuBLAS and NVRTC are called: the library is found at run time (JCuda does not
 * cover it), so the CPU jar needs nothing of it. Only what data and tensor parallelism use is bound:
 * the unique id, communicator set-up and tear-down, the asynchronous error check, and all-reduce,
 * reduce-scatter and all-gather on a stream the caller names.
 *
 * <p>NVLink multicast (NVLS) stays off in every process that loads NCCL through this class: it is set in
 * the environment NCCL reads before the library is loaded (see {@link #load}); a program that uses it can
 * put a shared host's GPUs out of service.
 */
public final class Nccl {
    /** ncclUniqueId: 128 opaque bytes that rank 0 makes and every rank passes to ncclCommInitRank. */
    public static final int UNIQUE_ID_BYTES = 128;
    private static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE));

    /** ncclDataType_t values (nccl.h). */
    public enum DataType {
        F32(7), BF16(9), F16(6);
        final int code;
        DataType(int code) { this.code = code; }
    }

    /** ncclRedOp_t values. */
    public enum ReduceOp {
        SUM(0), AVG(4);
        final int code;
        ReduceOp(int code) { this.code = code; }
    }

    private static final int IN_PROGRESS = 7;        // ncclInProgress: a non-blocking call still running

    private final String library;
    private final MethodHandle getVersion, getUniqueId, commInitRank, commDestroy, commAbort, commGetAsyncError,
            errorString, allReduce, reduceScatter, allGather, groupStart, groupEnd, commCount, commUserRank;
    private final MethodHandle commSplit;            // null before NCCL 2.18, which added ncclCommSplit

    private Nccl(String library, SymbolLookup lookup) {
        this.library = library;
        Linker l = Linker.nativeLinker();
        getVersion = l.downcallHandle(find(lookup, "ncclGetVersion"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getUniqueId = l.downcallHandle(find(lookup, "ncclGetUniqueId"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commInitRank = l.downcallHandle(find(lookup, "ncclCommInitRank"), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
        commDestroy = l.downcallHandle(find(lookup, "ncclCommDestroy"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commAbort = l.downcallHandle(find(lookup, "ncclCommAbort"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commGetAsyncError = l.downcallHandle(find(lookup, "ncclCommGetAsyncError"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        errorString = l.downcallHandle(find(lookup, "ncclGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        // (send, recv, count, datatype, op, comm, stream) for the reductions; all-gather has no op
        allReduce = l.downcallHandle(find(lookup, "ncclAllReduce"),
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        reduceScatter = l.downcallHandle(find(lookup, "ncclReduceScatter"),
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        allGather = l.downcallHandle(find(lookup, "ncclAllGather"),
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        groupStart = l.downcallHandle(find(lookup, "ncclGroupStart"), FunctionDescriptor.of(JAVA_INT));
        groupEnd = l.downcallHandle(find(lookup, "ncclGroupEnd"), FunctionDescriptor.of(JAVA_INT));
        commCount = l.downcallHandle(find(lookup, "ncclCommCount"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        commUserRank = l.downcallHandle(find(lookup, "ncclCommUserRank"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        // ncclCommSplit(comm, color, key, ncclComm_t* newcomm, ncclConfig_t* config): config NULL keeps the parent's
        commSplit = lookup.find("ncclCommSplit").map(a -> l.downcallHandle(a,
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS))).orElse(null);
    }

    private static volatile Nccl loaded;
    private static volatile String whyNot;

    /**
     * NCCL, loaded once: {@code $TERN_NCCL} (a file) if set, else libnccl.so.2 on the loader's path, else the
     * copies pip's nvidia-nccl packages put in Python's site-packages. Null when none loads
     * ({@link #unavailableReason} says why).
     */
    public static Nccl load() {
        if (loaded != null || whyNot != null) return loaded;
        synchronized (Nccl.class) {
            if (loaded != null || whyNot != null) return loaded;
            turnOffNvlinkMulticast();
            List<String> tried = new ArrayList<>();
            for (String candidate : candidates()) {
                tried.add(candidate);
                SymbolLookup lookup;
                try {
                    lookup = SymbolLookup.libraryLookup(candidate, Arena.global());
                } catch (IllegalArgumentException notThere) {
                    continue;
                }
                try {
                    loaded = new Nccl(candidate, lookup);
                    return loaded;
                } catch (RuntimeException e) {
                    whyNot = candidate + ": " + e.getMessage();
                    return null;
                }
            }
            whyNot = "no NCCL library found (tried " + String.join(", ", tried) + "; set TERN_NCCL to libnccl.so.2)";
            return null;
        }
    }

    /**
     * NCCL reads NCCL_NVLS_ENABLE from the environment when a communicator is made; a JVM cannot change its
     * own environment through Java, so libc's setenv is called before the library loads. A value the user
     * set stays only if it is already 0.
     */
    private static void turnOffNvlinkMulticast() {
        try (Arena a = Arena.ofConfined()) {
            Linker l = Linker.nativeLinker();
            MethodHandle setenv = l.downcallHandle(l.defaultLookup().find("setenv").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
            if ((int) setenv.invoke(a.allocateFrom("NCCL_NVLS_ENABLE"), a.allocateFrom("0"), 1) != 0)
                throw new IllegalStateException("setenv(NCCL_NVLS_ENABLE=0) failed");
        } catch (Throwable t) {
            throw new IllegalStateException("cannot turn NVLink multicast off before loading NCCL: " + t.getMessage(), t);
        }
    }

    public static String unavailableReason() {
        load();
        return whyNot == null ? "" : whyNot;
    }

    private static List<String> candidates() {
        List<String> out = new ArrayList<>();
        String env = System.getenv("TERN_NCCL");
        if (env != null && !env.isBlank()) out.add(env);
        out.add("libnccl.so.2");
        for (String root : List.of("/opt/torch/.venv/lib", "/usr/local/lib", "/usr/lib", System.getProperty("user.home") + "/.local/lib")) {
            Path r = Path.of(root);
            if (!Files.isDirectory(r)) continue;
            try (Stream<Path> pythons = Files.list(r)) {
                pythons.filter(p -> p.getFileName().toString().startsWith("python3")).sorted().forEach(p -> {
                    for (String site : List.of("site-packages", "dist-packages")) {
                        Path lib = p.resolve(site).resolve("nvidia/nccl/lib/libnccl.so.2");
                        if (Files.isRegularFile(lib)) out.add(lib.toString());
                    }
                });
            } catch (java.io.IOException ignored) {
                // an unreadable folder holds no candidate
            }
        }
        return out;
    }

    private static MemorySegment find(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("the NCCL library lacks " + name));
    }

    public String library() { return library; }

    /** NCCL's version code, e.g. 22703 for 2.27.3. */
    public int version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) getVersion.invoke(v), "ncclGetVersion");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A fresh unique id (rank 0 makes it; the others receive its bytes, see tern.train.RendezvousFile). */
    public byte[] uniqueId() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(UNIQUE_ID);
            check((int) getUniqueId.invoke(id), "ncclGetUniqueId");
            return id.toArray(JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * This process's communicator among {@code ranks}; blocks until every rank has joined. The CUDA device
     * current on the calling thread is the one it uses.
     */
    public Communicator join(byte[] uniqueId, int ranks, int rank) {
        if (uniqueId.length != UNIQUE_ID_BYTES) throw new IllegalArgumentException("an NCCL unique id has " + UNIQUE_ID_BYTES + " bytes, not " + uniqueId.length);
        if (ranks < 1 || rank < 0 || rank >= ranks) throw new IllegalArgumentException("rank " + rank + " of " + ranks);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ADDRESS);
            MemorySegment id = a.allocate(UNIQUE_ID);
            MemorySegment.copy(uniqueId, 0, id, JAVA_BYTE, 0, UNIQUE_ID_BYTES);
            check((int) commInitRank.invoke(slot, ranks, id, rank), "ncclCommInitRank(rank " + rank + " of " + ranks + ")");
            return new Communicator(slot.get(ADDRESS, 0), ranks, rank);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The collectives {@code body} enqueues are launched together when it returns (ncclGroupStart/End): one
     * launch for a step's hundreds of per-tensor reductions instead of one each.
     */
    public void group(Runnable body) {
        try {
            check((int) groupStart.invoke(), "ncclGroupStart");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        RuntimeException failed = null;
        try {
            body.run();
        } catch (RuntimeException e) {
            failed = e;
        }
        try {
            check((int) groupEnd.invoke(), "ncclGroupEnd");
        } catch (Throwable t) {
            if (failed == null) throw rethrow(t);
        }
        if (failed != null) throw failed;
    }

    private void check(int result, String what) {
        if (result == 0) return;
        String text;
        try {
            text = ((MemorySegment) errorString.invoke(result)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            text = "error " + result;
        }
        throw new NcclException(what + " failed: " + text + " (ncclResult " + result + ")", result);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /** An NCCL call that returned an error; {@link #result} is NCCL's code. */
    public static final class NcclException extends RuntimeException {
        public final int result;
        NcclException(String message, int result) {
            super(message);
            this.result = result;
        }
    }

    /** One process's place in a group of ranks. Collectives are enqueued on the stream given to each call. */
    public final class Communicator implements AutoCloseable {
        private final MemorySegment comm;
        public final int ranks, rank;
        private boolean closed;

        private Communicator(MemorySegment comm, int ranks, int rank) {
            this.comm = comm;
            this.ranks = ranks;
            this.rank = rank;
        }

        /** The library this communicator belongs to (for {@link Nccl#group}). */
        public Nccl nccl() { return Nccl.this; }

        /** recv[i] ← op over ranks of send[i], {@code count} elements; recv may equal send (in place). */
        public void allReduce(long send, long recv, long count, DataType type, ReduceOp op, CollectiveStream stream) {
            call(allReduce, "ncclAllReduce", send, recv, count, type.code, op.code, stream);
        }

        /** recv [recvCount] ← this rank's slice of the op over ranks of send [ranks·recvCount]. */
        public void reduceScatter(long send, long recv, long recvCount, DataType type, ReduceOp op, CollectiveStream stream) {
            call(reduceScatter, "ncclReduceScatter", send, recv, recvCount, type.code, op.code, stream);
        }

        /** recv [ranks·sendCount] ← every rank's send [sendCount], in rank order. */
        public void allGather(long send, long recv, long sendCount, DataType type, CollectiveStream stream) {
            if (closed) throw new IllegalStateException("ncclAllGather on a closed communicator");
            try {
                check((int) allGather.invoke(send, recv, sendCount, type.code, comm, stream.handle()), "ncclAllGather");
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        private void call(MethodHandle h, String name, long send, long recv, long count, int type, int op, CollectiveStream stream) {
            if (closed) throw new IllegalStateException(name + " on a closed communicator");
            try {
                check((int) h.invoke(send, recv, count, type, op, comm, stream.handle()), name);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /**
         * NCCL's asynchronous error state (a peer that died, a network failure): 0 while healthy. A watchdog
         * polls it and {@link #abort}s, so a rank that fails ends the job instead of hanging it.
         */
        public int asyncError() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment r = a.allocate(JAVA_INT);
                check((int) commGetAsyncError.invoke(comm, r), "ncclCommGetAsyncError");
                int v = r.get(JAVA_INT, 0);
                return v == IN_PROGRESS ? 0 : v;
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /**
         * ncclCommSplit: the ranks that pass the same {@code color} get one new communicator, ranked by
         * {@code key}; every rank of this communicator calls it (collective). Its rank and size are NCCL's
         * own (ncclCommUserRank, ncclCommCount).
         */
        public Communicator split(int color, int key) {
            if (closed) throw new IllegalStateException("ncclCommSplit on a closed communicator");
            if (commSplit == null)
                throw new NcclException(library + " lacks ncclCommSplit (NCCL 2.18 or newer is needed for tensor parallelism with data parallelism)", 5);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment slot = a.allocate(ADDRESS), count = a.allocate(JAVA_INT), user = a.allocate(JAVA_INT);
                check((int) commSplit.invoke(comm, color, key, slot, MemorySegment.NULL), "ncclCommSplit(color " + color + ", key " + key + ")");
                MemorySegment made = slot.get(ADDRESS, 0);
                check((int) commCount.invoke(made, count), "ncclCommCount");
                check((int) commUserRank.invoke(made, user), "ncclCommUserRank");
                return new Communicator(made, count.get(JAVA_INT, 0), user.get(JAVA_INT, 0));
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** Ends the communicator at once, pending collectives included (after a peer failed). */
        public void abort() {
            if (closed) return;
            closed = true;
            try {
                check((int) commAbort.invoke(comm), "ncclCommAbort");
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            try {
                check((int) commDestroy.invoke(comm), "ncclCommDestroy");
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }
    }
}
