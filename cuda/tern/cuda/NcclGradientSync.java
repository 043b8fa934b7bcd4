package tern.cuda;

import java.util.List;

import tern.runtime.DType;
import tern.runtime.GradientSync;
import tern.runtime.Tensor;

/**
 * {@link GradientSync} over NCCL: gradients are summed in place by all-reduces on the {@link CollectiveStream},
 * started once the compute stream's backward is issued and finished before the optimizer's kernels run,
 * both by events (no host wait). The host sum of the loss is one all-reduce of a device scalar. The sharded
 * optimizer's reduce-scatter and all-gather run in place on the parameters' own gradient and value tensors
 * (NCCL's in-place forms), so they need no staging buffer.
 */
public final class NcclGradientSync implements GradientSync {
    private final CudaBackend backend;
    private final Nccl nccl;
    private final Nccl.Communicator comm;
    private final CollectiveStream stream;

    public NcclGradientSync(CudaBackend backend, Nccl.Communicator comm) {
        this.backend = backend;
        this.nccl = comm.nccl();
        this.comm = comm;
        this.stream = new CollectiveStream(backend);
    }

    @Override public int rank() { return comm.rank; }

    @Override public int ranks() { return comm.ranks; }

    @Override
    public void sumInPlace(List<Tensor> tensors) {
        stream.waitForCompute();
        nccl.group(() -> {
            for (Tensor t : tensors) {
                long a = f32Address(t);
                comm.allReduce(a, a, t.size(), Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
            }
        });
        stream.computeWaitsForCollectives();
    }

    @Override
    public void reduceScatterInPlace(List<Tensor> tensors) {
        stream.waitForCompute();
        int n = comm.ranks, r = comm.rank;
        nccl.group(() -> {
            for (Tensor t : tensors) {
                long a = f32Address(t), k = GradientSync.shardLength(t.size(), n), tail = t.size() - n * k;
                // in place as NCCL defines it: recv = send + rank·recvCount
                if (k > 0) comm.reduceScatter(a, a + 4 * r * k, k, Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
                if (tail > 0) comm.allReduce(a + 4 * n * k, a + 4 * n * k, tail, Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
            }
        });
        stream.computeWaitsForCollectives();
    }

    @Override
    public void allGatherInPlace(List<Tensor> tensors) {
        stream.waitForCompute();
        int n = comm.ranks, r = comm.rank;
        nccl.group(() -> {
            for (Tensor t : tensors) {
                long a = f32Address(t), k = GradientSync.shardLength(t.size(), n);
                // in place as NCCL defines it: send = recv + rank·sendCount
                if (k > 0) comm.allGather(a + 4 * r * k, a, k, Nccl.DataType.F32, stream);
            }
        });
        stream.computeWaitsForCollectives();
    }

    private static long f32Address(Tensor t) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException("collectives here take f32 tensors, not " + t.describe());
        return CudaBackend.deviceAddress(t);
    }

    /**
     * The double is carried as three floats whose sum is exactly the value (a = (float) v, b = (float) (v − a),
     * c = (float) (v − a − b)), so one rank gets its own value back bit for bit (the clipping factor, read
     * from the summed gradient norm, is then that of the run without data parallelism) and several ranks get
     * the sum to about 1e-14 relative, without a 64-bit device buffer.
     */
    @Override
    public double sum(double value) {
        float a = (float) value, b = (float) (value - a), c = (float) (value - a - b);
        if (!Double.isFinite(value)) {                   // a NaN or Inf stays one (v − a would be NaN)
            b = 0;
            c = 0;
        }
        try (Tensor parts = backend.upload(new float[] {a, b, c}, 3)) {
            stream.waitForCompute();
            long p = CudaBackend.deviceAddress(parts);
            comm.allReduce(p, p, 3, Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
            stream.computeWaitsForCollectives();
            float[] s = backend.download(parts);
            return ((double) s[0] + s[1]) + s[2];
        }
    }

    /**
     * A sub-group by ncclCommSplit, with a collective stream of its own: tensor parallelism's all-reduces
     * and data parallelism's gradient sums then run on separate communicators, each ordered against the
     * compute stream by events as here.
     */
    @Override
    public GradientSync split(int color, int key) {
        backend.context().makeCurrent();
        return new NcclGradientSync(backend, comm.split(color, key));
    }

    /** NCCL's asynchronous error (0 while healthy), for the job's watchdog. */
    @Override public int asyncError() { return comm.asyncError(); }

    /**
     * One rank's communicator for {@code tern train --gpus}: rank 0 makes NCCL's unique id, {@code share}
     * hands it to the others (a file in the run folder, or TCP) and returns it on every rank (it gets rank
     * 0's id, null elsewhere). Called by name from the CLI, which must load without the CUDA classes.
     */
    public static NcclGradientSync join(tern.runtime.Backend backend, int rank, int ranks, java.util.function.UnaryOperator<byte[]> share) {
        if (!(backend instanceof CudaBackend cuda)) throw new IllegalArgumentException("NCCL ranks need the CUDA backend, not " + backend.name());
        Nccl nccl = Nccl.load();
        if (nccl == null) throw new IllegalStateException("NCCL is not available: " + Nccl.unavailableReason());
        byte[] id = share.apply(rank == 0 ? nccl.uniqueId() : null);
        cuda.context().makeCurrent();
        return new NcclGradientSync(cuda, nccl.join(id, ranks, rank));
    }

    /** Ends the communicator at once (a peer failed). */
    public void abort() { comm.abort(); }

    @Override
    public void close() {
        stream.close();
        comm.close();
    }
}
