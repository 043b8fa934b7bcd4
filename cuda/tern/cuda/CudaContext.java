package tern.cuda;

import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;

/**
 * One GPU through the JCuda driver API: its primary context (the one the CUDA runtime, and so cuBLAS,
 * also uses: both libraries then see the same memory and the same default stream), its properties, and
 * memory. Every call first makes the context current on the calling thread, since callers may come from
 * any thread. All work goes to the legacy default stream, so operations run in the order they are issued.
 */
final class CudaContext implements AutoCloseable {
    final CUdevice device = new CUdevice();
    final CUcontext context = new CUcontext();
    final String name;
    /** Compute capability as major·10 + minor, e.g. 90 for an H100, 70 for a V100. */
    final int arch;
    final int multiprocessors;
    /** The most shared memory one block may opt into (bytes). */
    final int maxSharedPerBlockOptin;
    final int driverVersion;
    private boolean closed;
    private StepRecorder recorder;        // a step being captured or checked as a CUDA graph; null: eager

    private CudaContext(int ordinal) {
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        cuDeviceGet(device, ordinal);
        byte[] raw = new byte[256];
        cuDeviceGetName(raw, raw.length, device);
        int len = 0;
        while (len < raw.length && raw[len] != 0) len++;
        name = new String(raw, 0, len, java.nio.charset.StandardCharsets.US_ASCII);
        arch = 10 * attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
                + attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        multiprocessors = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        maxSharedPerBlockOptin = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        int[] v = {0};
        cuDriverGetVersion(v);
        driverVersion = v[0];
        cuDevicePrimaryCtxRetain(context, device);
        cuCtxSetCurrent(context);
        CURRENT.set(context);
    }

    static CudaContext open(int ordinal) {
        return new CudaContext(ordinal);
    }

    /** Compute capability (major·10 + minor) of device {@code ordinal}, without opening a context. */
    static int archOf(int ordinal) {
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        jcuda.driver.CUdevice d = new jcuda.driver.CUdevice();
        cuDeviceGet(d, ordinal);
        int[] major = {0}, minor = {0};
        cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
        cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
        return 10 * major[0] + minor[0];
    }

    /** Number of CUDA devices the driver sees (initializing it). */
    static int deviceCount() {
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        int[] n = {0};
        cuDeviceGetCount(n);
        return n[0];
    }

    private int attribute(int which) {
        int[] v = {0};
        cuDeviceGetAttribute(v, which, device);
        return v[0];
    }

    /** The context last made current on each thread: setting it again is a driver call per op saved. */
    private static final ThreadLocal<CUcontext> CURRENT = new ThreadLocal<>();

    void makeCurrent() {
        if (closed) throw new IllegalStateException("CUDA context of " + name + " is closed");
        if (CURRENT.get() != context) {
            cuCtxSetCurrent(context);
            CURRENT.set(context);
        }
    }

    /** The recorder of a step captured or checked as a CUDA graph ({@link StepRecorder}), or null. */
    StepRecorder recorder() { return recorder; }

    /** Installs {@code r} (null: back to eager work on the default stream). */
    void record(StepRecorder r) { recorder = r; }

    private void refuseWhileRecording(String what) {
        if (recorder != null) throw recorder.refuse(what);
    }

    DevicePointer allocate(long bytes) {
        refuseWhileRecording("cuMemAlloc of " + bytes + " bytes");
        makeCurrent();
        DevicePointer p = new DevicePointer();
        try {
            cuMemAlloc(p, bytes);
        } catch (jcuda.CudaException e) {
            throw new IllegalStateException("cannot allocate " + bytes + " bytes on " + name + ": " + e.getMessage(), e);
        }
        return p;
    }

    void free(DevicePointer p) {
        if (closed) return;
        refuseWhileRecording("cuMemFree");
        makeCurrent();
        cuMemFree(p);
    }

    /** {free, total} bytes of the device's memory now (cuMemGetInfo). */
    long[] memoryInfo() {
        makeCurrent();
        long[] free = {0}, total = {0};
        cuMemGetInfo(free, total);
        return new long[] {free[0], total[0]};
    }

    void zero(DevicePointer p, long bytes) {
        if (recorder != null) {
            recorder.zero(p.address(), bytes);
            return;
        }
        makeCurrent();
        cuMemsetD8(p, (byte) 0, bytes);
    }

    void toDevice(DevicePointer dst, Pointer src, long bytes) {
        refuseWhileRecording("a copy from host memory other than a staged array");
        makeCurrent();
        cuMemcpyHtoD(dst, src, bytes);
    }

    // Host arrays copied in (ids, targets, pointer tables): what a step captured as a graph stages as its inputs.

    void toDevice(DevicePointer dst, int[] src, long bytes) {
        if (recorder != null) recorder.upload(dst.address(), java.lang.foreign.MemorySegment.ofArray(src), bytes);
        else toDevice(dst, Pointer.to(src), bytes);
    }

    void toDevice(DevicePointer dst, long[] src, long bytes) {
        if (recorder != null) recorder.upload(dst.address(), java.lang.foreign.MemorySegment.ofArray(src), bytes);
        else toDevice(dst, Pointer.to(src), bytes);
    }

    void toDevice(DevicePointer dst, float[] src, long bytes) {
        if (recorder != null) recorder.upload(dst.address(), java.lang.foreign.MemorySegment.ofArray(src), bytes);
        else toDevice(dst, Pointer.to(src), bytes);
    }

    void toHost(Pointer dst, DevicePointer src, long bytes) {
        refuseWhileRecording("a synchronous read of " + bytes + " bytes");
        makeCurrent();
        cuMemcpyDtoH(dst, src, bytes);
    }

    void deviceToDevice(DevicePointer dst, DevicePointer src, long bytes) {
        if (recorder != null) {
            recorder.copy(dst.address(), src.address(), bytes);
            return;
        }
        makeCurrent();
        cuMemcpyDtoD(dst, src, bytes);
    }

    void synchronize() {
        refuseWhileRecording("a synchronize");
        makeCurrent();
        cuCtxSynchronize();
    }

    @Override
    public void close() {
        if (closed) return;
        synchronize();
        closed = true;
        CURRENT.remove();
        cuDevicePrimaryCtxRelease(device);
    }
}
