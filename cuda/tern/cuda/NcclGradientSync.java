package tern.cuda;

import java.util.List;

import tern.runtime.DType;
import tern.runtime.GradientSync;
import tern.runtime.Tensor;

/**
 * {@link GradientSync} over NCCL: gradients are summed in place by all-reduces on the {@link CollectiveStream},
 * started once the compute stream's backward is issued and finished before the optimizer's kernels run,
 * both by events (no host wait). The host sum of the loss is one all-reduce of a device scalar.
 */
public final class NcclGradientSync implements GradientSync {
    private final CudaBackend backend;
    private final Nccl.Communicator comm;
    private final CollectiveStream stream;

    public NcclGradientSync(CudaBackend backend, Nccl.Communicator comm) {
        this.backend = backend;
        this.comm = comm;
        this.stream = new CollectiveStream(backend);
    }

    @Override public int rank() { return comm.rank; }

    @Override public int ranks() { return comm.ranks; }

    @Override
    public void sumInPlace(List<Tensor> tensors) {
        stream.waitForCompute();
        for (Tensor t : tensors) {
            if (t.dtype() != DType.F32) throw new IllegalArgumentException("gradient sum needs f32 tensors, not " + t.describe());
            long a = CudaBackend.deviceAddress(t);
            comm.allReduce(a, a, t.size(), Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
        }
        stream.computeWaitsForCollectives();
    }

    @Override
    public double sum(double value) {
        // f32 on the device: the loss is logged and checked for NaN, it steers nothing, so 7 digits suffice
        try (Tensor scalar = backend.upload(new float[] {(float) value}, 1)) {
            stream.waitForCompute();
            long a = CudaBackend.deviceAddress(scalar);
            comm.allReduce(a, a, 1, Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
            stream.computeWaitsForCollectives();
            return backend.download(scalar)[0];
        }
    }

    /** NCCL's asynchronous error (0 while healthy), for the job's watchdog. */
    public int asyncError() { return comm.asyncError(); }

    /** Ends the communicator at once (a peer failed). */
    public void abort() { comm.abort(); }

    @Override
    public void close() {
        stream.close();
        comm.close();
    }
}
