package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * NCCL through FFM on one GPU: a communicator of one rank, whose all-reduce, reduce-scatter and all-gather
 * must give back their input exactly (a sum over one rank adds nothing), enqueued on the collective stream
 * and ordered against the compute stream by events only. Several-GPU runs are in NcclRanksTest.
 */
class NcclTest {
    private static CudaBackend cuda;
    private static Nccl nccl;

    @BeforeAll
    static void load() {
        cuda = Gpu.backend();
        nccl = Nccl.load();
        Assumptions.assumeTrue(nccl != null, "NCCL: " + Nccl.unavailableReason());
    }

    @Test
    void versionAndUniqueId() {
        System.out.println("NCCL " + nccl.version() + " from " + nccl.library());
        assertTrue(nccl.version() >= 20000, "version " + nccl.version());
        byte[] a = nccl.uniqueId(), b = nccl.uniqueId();
        assertEquals(Nccl.UNIQUE_ID_BYTES, a.length);
        assertTrue(!java.util.Arrays.equals(a, b), "two unique ids are equal");
        assertThrows(IllegalArgumentException.class, () -> nccl.join(new byte[5], 1, 0));
        assertThrows(IllegalArgumentException.class, () -> nccl.join(a, 1, 1));
    }

    @Test
    void oneRankCollectivesReturnTheirInputOrderedByEvents() {
        Random rnd = new Random(11);
        int n = 3 << 20;                                        // 12 MB: long enough that a missing wait shows
        float[] x = Gpu.random(rnd, n);
        try (Nccl.Communicator comm = nccl.join(nccl.uniqueId(), 1, 0);
             CollectiveStream stream = new CollectiveStream(cuda)) {
            Tensor send = cuda.upload(x, n), recv = Gpu.poisoned(cuda, n), gathered = Gpu.poisoned(cuda, n),
                    scattered = Gpu.poisoned(cuda, n);
            cuda.scale(send, 2f);                              // compute-stream work the collective must see
            stream.waitForCompute();
            long s = CudaBackend.deviceAddress(send);
            comm.allReduce(s, CudaBackend.deviceAddress(recv), n, Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
            comm.reduceScatter(s, CudaBackend.deviceAddress(scattered), n, Nccl.DataType.F32, Nccl.ReduceOp.AVG, stream);
            comm.allGather(s, CudaBackend.deviceAddress(gathered), n, Nccl.DataType.F32, stream);
            stream.computeWaitsForCollectives();
            cuda.scale(recv, 0.5f);                            // compute that must see the reduced values
            float[] expected = x.clone();
            float[] doubled = new float[n];
            for (int i = 0; i < n; i++) doubled[i] = 2f * x[i];
            assertArrayEquals(expected, cuda.download(recv), "all-reduce of one rank, then ×½");
            assertArrayEquals(doubled, cuda.download(scattered), "reduce-scatter (average) of one rank");
            assertArrayEquals(doubled, cuda.download(gathered), "all-gather of one rank");
            // in place
            comm.allReduce(s, s, n, Nccl.DataType.F32, Nccl.ReduceOp.SUM, stream);
            stream.computeWaitsForCollectives();
            assertArrayEquals(doubled, cuda.download(send), "in-place all-reduce");
            assertEquals(0, comm.asyncError());
            for (Tensor t : new Tensor[] {send, recv, gathered, scattered}) t.close();
        }
    }

    /**
     * ncclCommSplit, as tensor and data parallelism form their groups (tern.train.RankGrid): a one-rank
     * world split by color gives a one-rank communicator of its own stream, whose sums give back their input
     * exactly, ordered against the compute stream by events, and the world still works after it. Several
     * GPUs: the DP × TP runs named in BENCHMARKS.md.
     */
    @Test
    void aSplitOfOneRankIsACommunicatorOfItsOwn() {
        Assumptions.assumeTrue(nccl.version() >= 21800, "ncclCommSplit needs NCCL 2.18+, this is " + nccl.version());
        Random rnd = new Random(12);
        int n = 1 << 20;
        float[] x = Gpu.random(rnd, n);
        try (NcclGradientSync world = new NcclGradientSync(cuda, nccl.join(nccl.uniqueId(), 1, 0));
             tern.runtime.GradientSync part = world.split(0, 0)) {
            assertEquals(0, part.rank());
            assertEquals(1, part.ranks());
            Tensor t = cuda.upload(x, n);
            cuda.scale(t, 2f);                                  // compute the sum must see
            part.sumInPlace(java.util.List.of(t));
            cuda.scale(t, 0.5f);                                // compute that must see the sum
            assertArrayEquals(x, cuda.download(t), "a sum over the one rank of the split, between two scalings");
            assertEquals(3.25, part.sum(3.25));
            world.sumInPlace(java.util.List.of(t));
            assertArrayEquals(x, cuda.download(t), "the world after the split");
            assertEquals(0, part.asyncError());
            t.close();
        }
    }
}
