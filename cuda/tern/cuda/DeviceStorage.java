package tern.cuda;

import tern.runtime.Device;
import tern.runtime.Storage;

/** Device memory behind CUDA tensors: one block of the backend's {@link DevicePool}, returned once by {@link #close()}. */
final class DeviceStorage implements Storage {
    private final DevicePool pool;
    private final DevicePointer pointer;
    private final long bytes;
    private boolean freed;

    DeviceStorage(DevicePool pool, long bytes) {
        this.pool = pool;
        this.bytes = bytes;
        this.pointer = pool.take(Math.max(bytes, 4));   // a zero-byte tensor still needs a valid address
    }

    DevicePointer pointer() {
        if (freed) throw new IllegalStateException("device storage of " + bytes + " bytes used after close");
        return pointer;
    }

    long address() { return pointer().address(); }

    @Override public Device device() { return Device.CUDA; }

    @Override public long byteSize() { return bytes; }

    @Override
    public synchronized void close() {
        if (freed) return;
        freed = true;
        pool.give(pointer, Math.max(bytes, 4));
    }
}
