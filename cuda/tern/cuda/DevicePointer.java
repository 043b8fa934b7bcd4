package tern.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A JCuda device pointer that also tells its raw address. Kernel arguments and cuBLAS (called through FFM)
 * take addresses as plain 64-bit values; JCuda keeps them in a protected field, readable from a subclass.
 */
final class DevicePointer extends CUdeviceptr {
    DevicePointer() {}

    private DevicePointer(DevicePointer base, long byteOffset) {
        super(base, byteOffset);
    }

    /** The device address this pointer points at. */
    long address() {
        return getNativePointer() + getByteOffset();
    }

    /** A pointer {@code bytes} further on, for the driver's copy calls. */
    DevicePointer plus(long bytes) {
        return new DevicePointer(this, bytes);
    }
}
