package tern.runtime;

import java.lang.foreign.MemorySegment;

/**
 * The memory behind one or more tensors. Host storage is a {@link MemorySegment}; a GPU backend supplies
 * its own implementation holding a device pointer. Closing frees the memory (views share it and must not
 * outlive it).
 */
public interface Storage extends AutoCloseable {
    Device device();

    long byteSize();

    /** Host memory, for CPU storage; device storages throw. */
    default MemorySegment segment() {
        throw new IllegalStateException("storage on " + device() + " has no host segment");
    }

    @Override
    void close();
}
