package tern.checkpoint;

import org.junit.jupiter.api.Test;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Storage;
import tern.runtime.Tensor;

import java.lang.reflect.Proxy;

import static org.junit.jupiter.api.Assertions.*;

/** A checkpoint's host copies of device tensors are freed when the save is done; host tensors are used as they are. */
class HostCopiesTest {

    /** Device memory as a GPU backend's storage looks to the rest of the code: no host segment. */
    private record FakeDeviceStorage(long byteSize) implements Storage {
        @Override public Device device() { return Device.CUDA; }
        @Override public void close() {}
    }

    /** A backend whose only op used here, download, returns 0, 1, 2, ... */
    private static Backend downloadingBackend() {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, (proxy, m, args) -> {
            if (!m.getName().equals("download")) throw new UnsupportedOperationException(m.getName());
            Tensor t = (Tensor) args[0];
            float[] v = new float[(int) t.size()];
            for (int i = 0; i < v.length; i++) v[i] = i;
            return v;
        });
    }

    @Test
    void hostTensorsAreUsedAsTheyAreAndDeviceCopiesAreFreedOnClose() {
        Tensor host = Tensor.of(new float[]{1, 2, 3}, 3);
        Tensor device = Tensor.wrap(new FakeDeviceStorage(24), 0, DType.F32, true, 2, 3);
        Tensor copy;
        try (HostCopies copies = new HostCopies(downloadingBackend())) {
            assertSame(host, copies.of(host));
            assertEquals(0, copies.held());
            copy = copies.of(device);
            assertEquals(1, copies.held());
            assertEquals(Device.CPU, copy.device());
            assertArrayEquals(new int[]{2, 3}, copy.shape());
            assertArrayEquals(new float[]{0, 1, 2, 3, 4, 5}, copy.toFloatArray());
        }
        assertThrows(IllegalStateException.class, copy::toFloatArray, "the copy's memory went back to the pool");
        assertEquals(2f, host.get(1), "a host tensor is not closed by the copies");
    }
}
