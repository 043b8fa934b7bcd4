package tern.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** Recycled host memory: zeroed when taken again, refused after close, bounded when idle. */
class HostMemoryPoolTest {

    @Test
    void aRecycledBlockComesBackZeroed() {
        HostMemoryPool.trim();        // earlier tests in this JVM may have filled the pool to its idle limit
        assertEquals(0, HostMemoryPool.idleBytes());
        long bytes = 4096 + 64 * 7;
        MemorySegment first;
        try (Tensor t = Tensor.zeros(DType.F32, (int) (bytes / 4))) {
            first = t.segment();
            for (long i = 0; i < t.size(); i++) t.set(i, i + 1f);
        }
        try (Tensor t = Tensor.zeros(DType.F32, (int) (bytes / 4))) {
            assertEquals(first.address(), t.segment().address(), "the freed block serves the next request of its size");
            for (long i = 0; i < t.size(); i++) assertEquals(0f, t.get(i), "element " + i);
        }
    }

    @Test
    void aClosedTensorRefusesAccess() {
        Tensor t = Tensor.zeros(DType.F32, 16);
        t.close();
        assertThrows(IllegalStateException.class, () -> t.get(0));
        t.close();   // a second close does nothing: the block is not handed out twice
        try (Tensor a = Tensor.zeros(DType.F32, 16); Tensor b = Tensor.zeros(DType.F32, 16)) {
            assertNotEquals(a.segment().address(), b.segment().address());
        }
    }

    @Test
    void trimFreesEveryIdleBlock() {
        Tensor.zeros(DType.F32, 1000).close();
        assertTrue(HostMemoryPool.idleBytes() >= 4000);
        HostMemoryPool.trim();
        assertEquals(0, HostMemoryPool.idleBytes());
    }

    @Test
    void largeBlocksAreFreedNotKept() {
        long before = HostMemoryPool.idleBytes();
        Tensor.zeros(DType.I8, (int) HostMemoryPool.LARGEST_POOLED + 64).close();
        assertEquals(before, HostMemoryPool.idleBytes());
        assertTrue(HostMemoryPool.idleBytes() <= HostMemoryPool.IDLE_LIMIT);
    }
}
