package tern.cuda;

import jcuda.driver.CUfunction;

/** A JCuda function handle that also tells its native CUfunction value, for {@link DriverLaunch}. */
final class KernelFunction extends CUfunction {
    long handle() {
        return getNativePointer();
    }
}
