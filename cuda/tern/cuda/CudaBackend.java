package tern.cuda;

import java.nio.ByteOrder;
import java.util.List;

import jcuda.Pointer;

import tern.runtime.AdamWParams;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Storage;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * The GPU backend: every {@link Backend} op as CUDA kernels (resources/tern/cuda/*.cu) compiled at run time
 * by NVRTC for the device in hand, launched through the JCuda driver API on the default stream, so ops run
 * in issue order and host reads ({@link #download}, returned scalars) see all earlier work. Float matrix
 * products go to cuBLAS (FFM) when it loads, else to our tiled kernel ({@link MatmulPath}).
 *
 * <p>This class checks each op's tensors and picks the path; the launches are in one class per kernel
 * family, each beside its source file (RmsNorm and rmsnorm.cu, SwiGlu and swiglu.cu, ...), which also
 * declares its kernels' parameters ({@link KernelTable}).
 *
 * <p>{@link #isAvailable()} answers without throwing where there is no driver, GPU or JCuda.
 *
 * <p>One thread at a time per backend (ops share a scratch buffer); any thread may be that thread, the
 * context is made current where needed. Ternary weights are packed in this backend's own layout
 * ({@link TernaryLayout}); weights packed by another backend are refused by name.
 */
public final class CudaBackend implements Backend {

    /** Which code computes the float {@link #matmul}. */
    public enum MatmulPath {
        /** cuBLAS SGEMM, FP32 throughout. */
        CUBLAS,
        /** cuBLAS GEMM with bf16 tensor-core inputs and FP32 accumulation (relative error ~1e-3). */
        CUBLAS_BF16,
        /**
         * cuBLAS GEMM with fp16 operands and FP32 accumulation, activations stored in fp16 (--compute fp16, the
         * tensor-core path of sm_70, which has no bf16; the trainer scales the loss dynamically).
         */
        CUBLAS_F16,
        /** Our tiled FP32 kernel (no cuBLAS needed). */
        KERNEL
    }

    /** Which kernels compute {@link #attention} and {@link #attentionBackward}. */
    public enum AttentionPath {
        /** attention.cu on CUDA cores, f32 throughout (any architecture; relative error ~1e-6). */
        F32,
        /** attention_mma.cu on tensor cores, bf16 products with f32 accumulation (sm_80+; error ~2^-8). */
        BF16
    }

    private final CudaContext context;
    private final DevicePool pool;        // tensors' device memory, reused by size
    private final Kernels kernels;
    private final Cublas cublas;          // null when cuBLAS did not load
    private final MatmulPath matmulPath;
    private final AttentionPath attentionPath;
    private final TensorCoreAttention tensorCoreAttention;   // null below sm_80
    private final Scratch scratch;
    private final Scratch weightScratch;  // dense γT for the cuBLAS ternary path
    private final Scratch castA, castB;   // f32 operands rounded to bf16 for a product with a bf16 operand
    private final Scratch stage;          // f32 results of small bf16-output products (see typedGemm)
    private final RopeTables ropeTables;
    private final DType activationType;
    // one launcher per kernel family (resources/tern/cuda/FAMILY.cu): this class checks and dispatches
    private final Elementwise elementwise;
    private final SwiGlu swiglu;
    private final AdamW adamw;
    private final RmsNorm rmsnorm;
    private final Rope rope;
    private final Embedding embedding;
    private final CrossEntropy crossEntropy;
    private final Attention f32Attention;
    private final Quantizers quantizers;
    private final TernaryPacking ternaryPacking;
    private final TiledMatmul tiled;
    private final TernaryGemv gemv;

    /** True when a CUDA device can be used here; never throws. */
    public static boolean isAvailable() {
        return CudaAvailability.available();
    }

    /** CUDA devices this process sees (0 where CUDA is not usable): the tests of several GPUs skip below their count. */
    public static int deviceCount() {
        return isAvailable() ? CudaContext.deviceCount() : 0;
    }

    /** Why {@link #isAvailable()} is false, or "" when it is true. */
    public static String unavailableReason() {
        return CudaAvailability.whyNot();
    }

    /**
     * Device 0, the matmul path of {@code -Dtern.cuda.matmul=cublas|bf16|kernel} (default cuBLAS when it
     * loads), and a synchronize after every launch when {@code -Dtern.cuda.checkLaunches=true}. The attention
     * path is {@code -Dtern.cuda.attention=f32|bf16}; by default bf16 tensor cores go with the bf16 matmul
     * path (where the device has them) and f32 with the others.
     */
    public CudaBackend() {
        this(0, pathFromProperty(), Boolean.getBoolean("tern.cuda.checkLaunches"));
    }

    /** {@code matmulPath} null picks cuBLAS when it loads, else the kernel; the attention path as {@link #CudaBackend()}. */
    public CudaBackend(int device, MatmulPath matmulPath, boolean checkEachLaunch) {
        this(device, matmulPath, attentionFromProperty(), checkEachLaunch);
    }

    /**
     * {@code attentionPath} null picks bf16 tensor cores with the bf16 matmul path where the device has them,
     * else f32; {@link AttentionPath#BF16} on a device below sm_80 is refused.
     */
    public CudaBackend(int device, MatmulPath matmulPath, AttentionPath attentionPath, boolean checkEachLaunch) {
        if (!isAvailable()) throw new IllegalStateException("CUDA is not available: " + unavailableReason());
        this.context = CudaContext.open(device);
        Kernels k = null;
        Cublas b = null;
        try {
            k = new Kernels(context, new KernelCache(Nvrtc.load()), checkEachLaunch);
            if (matmulPath != MatmulPath.KERNEL) b = Cublas.tryLoad();
            if (b == null && matmulPath != null && matmulPath != MatmulPath.KERNEL)
                throw new IllegalStateException("matmul path " + matmulPath + " needs cuBLAS, which did not load");
        } catch (RuntimeException e) {
            if (k != null) k.close();
            context.close();
            throw e;
        }
        this.kernels = k;
        this.cublas = b;
        this.pool = new DevicePool(context);
        this.ropeTables = new RopeTables(k, floats -> allocate(DType.F32, Math.toIntExact(floats)));
        this.matmulPath = matmulPath != null ? matmulPath : (b != null ? MatmulPath.CUBLAS : MatmulPath.KERNEL);
        this.scratch = new Scratch(context);
        this.weightScratch = new Scratch(context);
        this.castA = new Scratch(context);
        this.castB = new Scratch(context);
        this.stage = new Scratch(context);
        this.elementwise = new Elementwise(k, scratch);
        this.swiglu = new SwiGlu(k);
        this.adamw = new AdamW(k, scratch);
        this.rmsnorm = new RmsNorm(k, context, scratch);
        this.rope = new Rope(k);
        this.embedding = new Embedding(k, context, scratch);
        this.crossEntropy = new CrossEntropy(k, context, scratch);
        this.f32Attention = new Attention(k, scratch);
        this.quantizers = new Quantizers(k, context, scratch);
        this.ternaryPacking = new TernaryPacking(k, context, pool, weightScratch);
        this.tiled = new TiledMatmul(k);
        this.gemv = new TernaryGemv(k, context);
        this.tensorCoreAttention = TensorCoreAttention.supports(k) ? new TensorCoreAttention(k, scratch) : null;
        if (tensorCoreAttention != null && "tiles".equals(ropeProperty())) tensorCoreAttention.ropeVariant(TensorCoreAttention.RopeVariant.TILES);
        if (attentionPath == AttentionPath.BF16 && tensorCoreAttention == null) {
            close();
            throw new IllegalStateException("the bf16 tensor-core attention needs sm_80 or later, the device is sm_" + context.arch);
        }
        this.attentionPath = attentionPath != null ? attentionPath
                : this.matmulPath == MatmulPath.CUBLAS_BF16 && tensorCoreAttention != null ? AttentionPath.BF16 : AttentionPath.F32;
        this.activationType = activationsFromProperty(this.matmulPath, this.attentionPath);
    }

    /**
     * bf16 activations where both the products and the attention take bf16 inputs, unless
     * {@code -Dtern.cuda.activations=f32} keeps them f32 (the products then round them on the way in, as
     * before activations had a type: a comparison, and a way back if bf16 storage misbehaves).
     */
    private static DType activationsFromProperty(MatmulPath matmul, AttentionPath attention) {
        String p = System.getProperty("tern.cuda.activations", "");
        boolean bf16Compute = matmul == MatmulPath.CUBLAS_BF16 && attention == AttentionPath.BF16;
        if (matmul == MatmulPath.CUBLAS_F16) {                // fp16 products store fp16 activations (or f32, asked for)
            if (!p.isEmpty() && !p.equals("f32") && !p.equals("f16"))
                throw new IllegalArgumentException("-Dtern.cuda.activations=" + p + " with fp16 products: expected f32 or f16");
            return p.equals("f32") ? DType.F32 : DType.F16;
        }
        return switch (p) {
            case "" -> bf16Compute ? DType.BF16 : DType.F32;
            case "f32" -> DType.F32;
            case "bf16" -> {
                if (!bf16Compute)
                    throw new IllegalArgumentException("-Dtern.cuda.activations=bf16 needs bf16 products and attention (matmul "
                            + matmul + ", attention " + attention + ")");
                yield DType.BF16;
            }
            default -> throw new IllegalArgumentException("-Dtern.cuda.activations=" + p + ": expected f32 or bf16");
        };
    }

    /** bf16 with bf16 products and attention (see {@link #activationsFromProperty}), else f32. */
    @Override public DType activationType() { return activationType; }

    /**
     * The backend of {@code tern ... --compute}: "bf16" (matrix products and attention on tensor cores with
     * bf16 inputs and f32 accumulation), "f32" (FP32 throughout), or null for the device's default, bf16 on
     * sm_80 and later and f32 below. {@code -Dtern.cuda.matmul} and {@code -Dtern.cuda.attention}, when set,
     * override the paths this picks (kernel experiments).
     */
    public static CudaBackend forCompute(String compute) {
        if (!isAvailable()) throw new IllegalStateException("CUDA is not available: " + unavailableReason());
        if (compute == null) compute = CudaContext.archOf(0) >= 80 ? "bf16" : "f32";
        boolean bf16 = switch (compute) {
            case "bf16", "fp16" -> true;
            case "f32" -> false;
            default -> throw new IllegalArgumentException("--compute must be bf16, fp16 or f32, got '" + compute + "'");
        };
        boolean fp16 = compute.equals("fp16");
        MatmulPath matmul = pathFromProperty();
        AttentionPath attention = attentionFromProperty();
        if (matmul == null && bf16) matmul = fp16 ? MatmulPath.CUBLAS_F16 : MatmulPath.CUBLAS_BF16;
        // fp16 activations enter the bf16 tensor-core attention converted (sm_80+), the f32 one below
        if (attention == null) attention = bf16 && (!fp16 || CudaContext.archOf(0) >= 80) ? AttentionPath.BF16 : AttentionPath.F32;
        return new CudaBackend(0, matmul, attention, Boolean.getBoolean("tern.cuda.checkLaunches"));
    }

    /** "fp16" or "bf16" when the matrix products take 16-bit inputs, else "f32". */
    @Override public String compute() {
        if (matmulPath == MatmulPath.CUBLAS_F16) return "fp16";
        return matmulPath == MatmulPath.CUBLAS_BF16 || attentionPath == AttentionPath.BF16 ? "bf16" : "f32";
    }

    /** The element type the 16-bit products read (bf16 or f16), or null on the f32 paths. */
    private DType productType() {
        return switch (matmulPath) {
            case CUBLAS_BF16 -> DType.BF16;
            case CUBLAS_F16 -> DType.F16;
            default -> null;
        };
    }

    private static AttentionPath attentionFromProperty() {
        String p = System.getProperty("tern.cuda.attention", "");
        return switch (p) {
            case "" -> null;
            case "f32" -> AttentionPath.F32;
            case "bf16" -> AttentionPath.BF16;
            default -> throw new IllegalArgumentException("-Dtern.cuda.attention=" + p + ": expected f32 or bf16");
        };
    }

    private static MatmulPath pathFromProperty() {
        String p = System.getProperty("tern.cuda.matmul", "");
        return switch (p) {
            case "" -> null;
            case "cublas" -> MatmulPath.CUBLAS;
            case "bf16" -> MatmulPath.CUBLAS_BF16;
            case "fp16" -> MatmulPath.CUBLAS_F16;
            case "kernel" -> MatmulPath.KERNEL;
            default -> throw new IllegalArgumentException("-Dtern.cuda.matmul=" + p + ": expected cublas, bf16, fp16 or kernel");
        };
    }

    @Override public String name() {
        return "cuda:" + context.name + " (sm_" + context.arch + ", matmul " + matmulPath + ", attention " + attentionPath
                + ", activations " + activationType.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }

    @Override public Device device() { return Device.CUDA; }

    public MatmulPath matmulPath() { return matmulPath; }

    public AttentionPath attentionPath() { return attentionPath; }

    /** Whether this device has the tensor-core attention ({@link AttentionPath#BF16}): sm_80 or later. */
    public boolean hasTensorCoreAttention() { return tensorCoreAttention != null; }

    /** Compute capability as major·10 + minor. */
    public int arch() { return context.arch; }

    public String deviceName() { return context.name; }

    public int multiprocessors() { return context.multiprocessors; }

    /**
     * Switches the per-kernel GPU timer on or off (benchmarks); on, each launch also records two CUDA events,
     * so time profiled work apart from measured work. Switching on clears what was gathered.
     */
    public void profile(boolean on) {
        context.makeCurrent();
        if (on) kernels.profile.reset();
        kernels.profile.enable(on);
    }

    /** GPU time per kernel name gathered while {@link #profile} was on, per {@code steps} (largest first). */
    public String profileReport(double steps) {
        context.makeCurrent();
        return kernels.profile.report(steps);
    }

    /** Waits for all issued work (for timing from the host). */
    public void synchronize() { context.synchronize(); }

    /** The device's free memory (cuMemGetInfo) plus what the pool keeps for reuse: room for new tensors. */
    @Override
    public long memoryAvailable() { return context.memoryInfo()[0] + pool.idleBytes(); }

    /** {free, total} bytes of device memory now (cuMemGetInfo). */
    public long[] deviceMemory() { return context.memoryInfo(); }

    /**
     * {the most bytes held in tensors at once, the most held in tensors plus the pool's kept blocks} since
     * {@link #resetMemoryPeaks}: what torch.cuda.max_memory_allocated and max_memory_reserved measure.
     * Scratch buffers and libraries' workspaces are not counted (a few hundred MB).
     */
    public long[] memoryPeaks() { return pool.peaks(); }

    public void resetMemoryPeaks() { pool.resetPeaks(); }

    // ---- memory ----------------------------------------------------------------------------------------

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        long t0 = System.nanoTime();
        Tensor t = allocate(dtype, shape);
        long t1 = System.nanoTime();
        context.zero(pointer(t), t.byteSize());
        kernels.profile.host("zeros: allocate", t1 - t0);
        kernels.profile.host("zeros: memset", System.nanoTime() - t1);
        return t;
    }

    /** Pooled device memory without the memset: for outputs an op overwrites whole. */
    @Override
    public Tensor empty(DType dtype, int... shape) {
        long t0 = System.nanoTime();
        Tensor t = allocate(dtype, shape);
        kernels.profile.host("empty: allocate", System.nanoTime() - t0);
        return t;
    }

    private Tensor allocate(DType dtype, int... shape) {
        long count = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + java.util.Arrays.toString(shape));
            count *= d;
        }
        return Tensor.wrap(new DeviceStorage(pool, dtype.bytesFor(count)), 0, dtype, true, shape);
    }

    @Override
    public Tensor upload(float[] values, int... shape) {
        Tensor t = allocate(DType.F32, shape);
        if (values.length != t.size()) {
            t.close();
            throw new IllegalArgumentException(values.length + " values for shape " + java.util.Arrays.toString(shape));
        }
        context.toDevice(pointer(t), values, t.byteSize());
        return t;
    }

    @Override
    public float[] download(Tensor t) {
        requireActivation(t, "download");
        if (t.size() > Integer.MAX_VALUE - 8) throw new IllegalArgumentException(t.describe() + " is too large for an array");
        float[] out = new float[(int) t.size()];
        long t0 = System.nanoTime();
        if (t.dtype() == DType.F32) {
            context.toHost(Pointer.to(out), pointer(t), t.byteSize());
        } else {                                          // 16-bit storage: widened on the host
            short[] bits = new short[out.length];
            context.toHost(Pointer.to(bits), pointer(t), t.byteSize());
            for (int i = 0; i < out.length; i++)
                out[i] = t.dtype() == DType.BF16 ? tern.runtime.Bf16.toFloat(bits[i]) : Float.float16ToFloat(bits[i]);
        }
        kernels.profile.host("download (waits for the GPU)", System.nanoTime() - t0);
        return out;
    }

    /** dst ← src in dst's element type (f32, bf16, f16; rounded to nearest even when narrowing). */
    @Override
    public void convert(Tensor src, Tensor dst) {
        if (src.dtype() == dst.dtype()) {
            copy(src, dst);
            return;
        }
        requireActivation(src, "convert");
        requireActivation(dst, "convert");
        if (src.size() != dst.size())
            throw new IllegalArgumentException("convert needs the same size: " + src.describe() + " → " + dst.describe());
        elementwise.convert(src, dst);
    }

    /** dst ← src; either side may also be a host tensor (loading weights, reading results). */
    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.dtype() != dst.dtype() || src.size() != dst.size())
            throw new IllegalArgumentException("copy needs the same dtype and size: " + src.describe() + " → " + dst.describe());
        long bytes = src.byteSize();
        if (bytes == 0) return;
        boolean srcHere = src.device() == Device.CUDA, dstHere = dst.device() == Device.CUDA;
        if (srcHere && dstHere) context.deviceToDevice(pointer(dst), pointer(src), bytes);
        else if (dstHere) context.toDevice(pointer(dst), Pointer.to(src.segment().asByteBuffer().order(ByteOrder.nativeOrder())), bytes);
        else if (srcHere) context.toHost(Pointer.to(dst.segment().asByteBuffer().order(ByteOrder.nativeOrder())), pointer(src), bytes);
        else dst.segment().copyFrom(src.segment());
    }

    @Override
    public void fill(Tensor t, float value) {
        requireActivation(t, "fill");
        elementwise.fill(t, value);
    }

    // ---- elementwise -------------------------------------------------------------------------------------

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        sameActivations("add", a, b, out);
        elementwise.add(a, b, out);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        requireActivation(x, "axpy");
        requireActivation(y, "axpy");
        if (x.size() != y.size()) throw new IllegalArgumentException("axpy: " + x.describe() + " differs in size from " + y.describe());
        elementwise.axpy(alpha, x, y);
    }

    @Override
    public void scale(Tensor x, float alpha) {
        requireActivation(x, "scale");
        elementwise.scale(x, alpha);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        requireActivation(x, "sumOfSquares");
        return elementwise.sumOfSquares(x);
    }

    @Override
    public boolean allFinite(Tensor x) {
        requireActivation(x, "allFinite");
        return elementwise.allFinite(x);
    }

    // ---- matmul --------------------------------------------------------------------------------------

    @Override
    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, boolean accumulate) {
        if (productType() != null) {
            requireActivation(a, "matmul");
            requireActivation(b, "matmul");
            requireActivation(c, "matmul");
        } else {
            requireF32(a, "matmul");
            requireF32(b, "matmul");
            requireF32(c, "matmul");
        }
        int m = transA ? a.cols() : a.rows(), k = transA ? a.rows() : a.cols();
        int kb = transB ? b.cols() : b.rows(), n = transB ? b.rows() : b.cols();
        if (k != kb || c.rows() != m || c.cols() != n)
            throw new IllegalArgumentException("matmul shapes do not agree: a " + a.describe() + (transA ? "ᵀ" : "")
                    + " · b " + b.describe() + (transB ? "ᵀ" : "") + " → c " + c.describe());
        if (m == 0 || n == 0) return;
        if (k == 0) {
            if (!accumulate) fill(c, 0f);
            return;
        }
        switch (matmulPath) {
            case CUBLAS -> cublasGemm(address(a), transA, address(b), transB, address(c), m, n, k, accumulate, false);
            case CUBLAS_BF16, CUBLAS_F16 -> {
                if (matmulPath == MatmulPath.CUBLAS_BF16 && a.dtype() == DType.F32 && b.dtype() == DType.F32 && c.dtype() == DType.F32)
                    cublasGemm(address(a), transA, address(b), transB, address(c), m, n, k, accumulate, true);
                else
                    typedGemm(operand(a, castA), transA, operand(b, castB), transB, address(c), c.dtype(), m, n, k, accumulate);
            }
            case KERNEL -> tiled.sgemm(a, transA, b, transB, c, m, n, k, accumulate);
        }
    }

    /** cuBLAS on the current context, timed under its precision and shape when profiling. */
    private void cublasGemm(long a, boolean transA, long b, boolean transB, long c, int m, int n, int k, boolean accumulate,
                            boolean bf16) {
        context.makeCurrent();
        jcuda.driver.CUevent[] timed = kernels.profile.begin();
        long t0 = timed == null ? 0 : System.nanoTime();
        StepRecorder r = context.recorder();
        if (r == null || r.gemm(bf16 ? "cublasGemmEx (f32, bf16 inputs)" : "cublasSgemm", 1, a, transA ? 1 : 0, b, transB ? 1 : 0, c, m, n, k,
                accumulate ? 1 : 0, bf16 ? 1 : 0))
            cublas.gemm(a, transA, b, transB, c, m, n, k, accumulate, bf16);
        if (timed != null) kernels.profile.host("cublas call", System.nanoTime() - t0);
        if (timed != null)
            kernels.profile.end(timed, (bf16 ? "gemm_bf16 " : "gemm ") + m + "x" + n + "x" + k + (transA ? " tA" : "") + (transB ? " tB" : ""));
    }

    /**
     * A 16-bit product operand ({@link #productType}): t itself when it is stored so, else t rounded to it into
     * {@code cast} (one pass; f32 weights, f32 logit gradients). Valid until the next product.
     */
    private long operand(Tensor t, Scratch cast) {
        DType type = productType();
        if (t.dtype() == type) return address(t);
        long n = t.size();
        long dst = cast.reserve(2 * n);
        elementwise.convertRaw(suffix(t), type == DType.BF16 ? "_bf16" : "_f16", address(t), dst, n);
        return dst;
    }

    /**
     * cuBLAS with 16-bit operands a and b ({@link #productType}; device addresses), c in f32 or the operands'
     * type, f32 accumulation. A 16-bit c with
     * fewer 128×128 output tiles than the device has multiprocessors is computed into f32 and rounded once
     * afterwards: there cuBLAS splits k and may add the partial sums in the output type (measured on the
     * H200: up to 2 bf16 ulps instead of the one rounding), e.g. the LM head's dx = dlogits·W over the
     * vocabulary. Larger outputs (every activation product of training) are written in bf16 directly.
     */
    private void typedGemm(long a, boolean transA, long b, boolean transB, long c, DType cType, int m, int n, int k,
                           boolean accumulate) {
        context.makeCurrent();
        if (cType != DType.F32 && (long) ceilDiv(m, 128) * ceilDiv(n, 128) < context.multiprocessors) {
            String half = cType == DType.BF16 ? "_bf16" : "_f16";
            long count = (long) m * n, f32 = stage.reserve(4 * count);
            if (accumulate) convertRaw(half, "_f32", c, f32, count);
            typedGemm(a, transA, b, transB, f32, DType.F32, m, n, k, accumulate);
            convertRaw("_f32", half, f32, c, count);
            return;
        }
        if (cType != DType.F32 && cType != productType())
            throw new IllegalArgumentException("a " + productType() + " product cannot write " + cType);
        boolean f16 = productType() == DType.F16;
        jcuda.driver.CUevent[] timed = kernels.profile.begin();
        StepRecorder r = context.recorder();
        if (r == null || r.gemm(f16 ? "cublasGemmEx (fp16)" : "cublasGemmEx (bf16)", 2, a, transA ? 1 : 0, b, transB ? 1 : 0, f16 ? 1 : 0, c,
                cType != DType.F32 ? 1 : 0, m, n, k, accumulate ? 1 : 0))
            cublas.gemm16(a, transA, b, transB, f16, c, cType != DType.F32, m, n, k, accumulate);
        if (timed != null)
            kernels.profile.end(timed, (f16 ? "gemm_f16" : "gemm_bf16") + (cType != DType.F32 ? "→16 " : " ") + m + "x" + n + "x" + k
                    + (transA ? " tA" : "") + (transB ? " tB" : ""));
    }

    private void convertRaw(String from, String to, long src, long dst, long n) {
        elementwise.convertRaw(from, to, src, dst, n);
    }

    /** The tiled FP32 kernel whatever the configured path (tests compare it with cuBLAS; benchmarks). */
    public void matmulKernel(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, boolean accumulate) {
        int m = transA ? a.cols() : a.rows(), k = transA ? a.rows() : a.cols(), n = transB ? b.rows() : b.cols();
        if ((transB ? b.cols() : b.rows()) != k || c.rows() != m || c.cols() != n)
            throw new IllegalArgumentException("matmul shapes do not agree: " + a.describe() + " · " + b.describe() + " → " + c.describe());
        tiled.sgemm(a, transA, b, transB, c, m, n, k, accumulate);
    }

    // ---- ternary -------------------------------------------------------------------------------------

    @Override
    public TernaryWeights packTernary(Tensor w, int shards, ShardAxis axis, float eps) {
        requireF32(w, "packTernary");
        float[] gammas = quantizers.absmeanScales(w, shards, axis, eps);
        return ternaryPacking.pack(w, gammas, gammas, axis);
    }

    /**
     * A packed model file's t9 weights, repacked into this backend's layout: T is decoded on the host,
     * uploaded as floats and packed with unit scales (rint(T/1) = T exactly), then the file's γ replace them.
     */
    @Override
    public TernaryWeights loadTernary(Tensor codes, int rows, int cols, float[] scales, ShardAxis axis) {
        if (codes.dtype() != DType.T9) throw new IllegalArgumentException("loadTernary: codes must be a host T9 tensor, got " + codes.describe());
        byte[] trits = tern.simd.PackedTernary.of(codes.segment(), rows, cols, scales, axis).trits();
        float[] t = new float[trits.length];
        for (int i = 0; i < t.length; i++) t[i] = trits[i];
        float[] ones = new float[scales.length];
        java.util.Arrays.fill(ones, 1f);
        try (Tensor dense = upload(t, rows, cols)) {
            TernaryWeights w = ternaryPacking.pack(dense, ones, scales.clone(), axis);
            context.toDevice(pointer(w.packed()).plus(TernaryLayout.packedBytes(rows, cols)), Pointer.to(w.scales()), 4L * scales.length);
            return w;
        }
    }

    @Override
    public void unpackTernary(TernaryWeights w, Tensor out) {
        requireActivation(out, "unpackTernary");
        if (out.rows() != w.rows() || out.cols() != w.cols())
            throw new IllegalArgumentException("unpackTernary: " + out.describe() + " is not [" + w.rows() + ", " + w.cols() + "]");
        ternaryPacking.unpack(w, out);
    }

    /**
     * Few rows (decode) on sm_80+: a tensor-core kernel on the packed weights (ternary_mma.cu; one or two
     * rows: the integer one, x as 8-bit fixed-point digits with exact int32 sums; three or four: f16). Many rows
     * (training): with cuBLAS, γT is unpacked once into a float scratch matrix and multiplied by cuBLAS,
     * which outruns decoding inside our tiled kernel; without it (or on {@link MatmulPath#KERNEL}), the
     * tiled kernel decodes the packed weights in its shared-memory staging.
     */
    @Override
    public void ternaryMatmul(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        requireActivation(x, "ternaryMatmul");
        requireActivation(y, "ternaryMatmul");
        int m = x.rows();
        if (x.cols() != w.cols() || y.rows() != m || y.cols() != w.rows())
            throw new IllegalArgumentException("ternaryMatmul: x " + x.describe() + " · W[" + w.rows() + ", " + w.cols()
                    + "]ᵀ → y " + y.describe());
        if (m == 0 || w.rows() == 0) return;
        if (w.cols() == 0) {
            if (!accumulate) fill(y, 0f);
            return;
        }
        if (x.dtype() != DType.F32 || y.dtype() != DType.F32) {   // bf16 activations: γT unpacked in bf16
            requireHalfProducts("ternaryMatmul", x, y);
            typedGemm(operand(x, castA), false, unpackToScratch(w, productType()), true, address(y), y.dtype(),
                    m, w.rows(), w.cols(), accumulate);
            return;
        }
        if (gemv.tryInteger(x, w, y, accumulate)) return;
        if (gemv.tryHalf(x, w, y, accumulate)) {
            // launched: the f16 tensor-core kernel
        } else if (matmulPath != MatmulPath.KERNEL) {
            long wq = unpackToScratch(w, DType.F32);
            cublasGemm(address(x), false, wq, true, address(y), m, w.rows(), w.cols(), accumulate,
                    matmulPath == MatmulPath.CUBLAS_BF16);
        } else {
            ternaryGemmKernel(x, w, y, accumulate);
        }
    }

    /** The tiled kernel on the packed weights whatever the configured path (tests, benchmarks). */
    public void ternaryGemmKernel(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        tiled.ternary(x, w, y, accumulate);
    }

    @Override
    public void ternaryMatmulT(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        requireActivation(dy, "ternaryMatmulT");
        requireActivation(dx, "ternaryMatmulT");
        int m = dy.rows();
        if (dy.cols() != w.rows() || dx.rows() != m || dx.cols() != w.cols())
            throw new IllegalArgumentException("ternaryMatmulT: dy " + dy.describe() + " · W[" + w.rows() + ", " + w.cols()
                    + "] → dx " + dx.describe());
        if (m == 0 || w.cols() == 0) return;
        if (w.rows() == 0) {
            if (!accumulate) fill(dx, 0f);
            return;
        }
        if (dy.dtype() != DType.F32 || dx.dtype() != DType.F32) {
            requireHalfProducts("ternaryMatmulT", dy, dx);
            typedGemm(operand(dy, castA), false, unpackToScratch(w, productType()), false, address(dx), dx.dtype(),
                    m, w.cols(), w.rows(), accumulate);
        } else if (matmulPath != MatmulPath.KERNEL && m > TernaryGemv.MAX_ROWS) {
            long wq = unpackToScratch(w, DType.F32);
            cublasGemm(address(dy), false, wq, false, address(dx), m, w.cols(), w.rows(), accumulate,
                    matmulPath == MatmulPath.CUBLAS_BF16);
        } else {
            ternaryGemmTKernel(dy, w, dx, accumulate);
        }
    }

    /** The tiled input-gradient kernel on the packed weights whatever the configured path. */
    public void ternaryGemmTKernel(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        tiled.ternaryTransposed(dy, w, dx, accumulate);
    }

    /** Products of 16-bit activations are 16-bit cuBLAS products. */
    private void requireHalfProducts(String op, Tensor... ts) {
        if (productType() == null)
            throw new IllegalArgumentException(op + ": 16-bit activations need the bf16 or fp16 matmul path, not " + matmulPath + " ("
                    + java.util.Arrays.stream(ts).map(Tensor::describe).collect(java.util.stream.Collectors.joining(", ")) + ")");
    }

    /** γT as a dense f32, bf16 or f16 [rows, cols] matrix in the weight scratch (valid until the next call). */
    private long unpackToScratch(TernaryWeights w, DType type) {
        return ternaryPacking.unpackToScratch(w, type);
    }

    // ---- fake quantizers -----------------------------------------------------------------------------

    @Override
    public float[] quantizeTernary(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        requireF32(w, "quantizeTernary");
        sameSize("quantizeTernary", w, out);
        return quantizers.ternary(w, shards, axis, eps, out);
    }

    /**
     * out ← γ·T with γ computed on the device (tern_abs_sum, then tern_gammas turns the sums into the scales
     * exactly as {@link Quantizers#absmeanScales} does on the host): three launches and no host synchronization; out
     * in f32 or bf16 (the operand the bf16 products read).
     */
    @Override
    public void quantizeTernaryInto(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        requireF32(w, "quantizeTernaryInto");
        requireActivation(out, "quantizeTernaryInto");
        if (out.size() != w.size()) throw new IllegalArgumentException("quantizeTernaryInto: " + out.describe() + " is not like " + w.describe());
        int extent = axis == ShardAxis.ROWS ? w.rows() : w.cols();
        if (shards < 1 || shards > Math.max(1, extent))
            throw new IllegalArgumentException(shards + " shards along " + axis + " of " + w.describe());
        quantizers.ternaryInto(w, shards, axis, eps, out);
    }

    @Override
    public float[] quantizeBinary(Tensor w, Granularity granularity, Tensor out) {
        requireF32(w, "quantizeBinary");
        sameSize("quantizeBinary", w, out);
        return quantizers.binary(w, granularity, out);
    }

    @Override
    public void quantizeSymmetric(Tensor x, int bits, Granularity granularity, Tensor out) {
        sameActivations("quantizeSymmetric", x, out);
        if (bits < 2 || bits > 16) throw new IllegalArgumentException("quantizeSymmetric: bits must be 2..16, got " + bits);
        quantizers.symmetric(x, bits, granularity, out);
    }

    // ---- layers --------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor table, int[] ids, Tensor out) {
        requireF32(table, "embedding");
        requireActivation(out, "embedding");
        checkIds("embedding", ids, table);
        if (out.rows() != ids.length || out.cols() != table.cols())
            throw new IllegalArgumentException("embedding: out " + out.describe() + " is not [" + ids.length + ", " + table.cols() + "]");
        if (ids.length == 0) return;
        embedding.forward(table, ids, out);
    }

    @Override
    public void embeddingBackward(Tensor dout, int[] ids, Tensor dtable) {
        requireActivation(dout, "embeddingBackward");
        requireF32(dtable, "embeddingBackward");
        checkIds("embeddingBackward", ids, dtable);
        if (dout.rows() != ids.length || dout.cols() != dtable.cols())
            throw new IllegalArgumentException("embeddingBackward: dout " + dout.describe() + " is not [" + ids.length + ", " + dtable.cols() + "]");
        if (ids.length == 0) return;
        embedding.backward(dout, ids, dtable);
    }

    @Override
    public void rmsnorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        rmsnormForward("rmsnorm", x, null, weight, eps, null, out, rstd);
    }

    /** The residual add and the norm in one launch (rmsnorm_fwd with a second input): the same bits as the two ops. */
    @Override
    public void addRmsnorm(Tensor x, Tensor y, Tensor weight, float eps, Tensor sum, Tensor out, Tensor rstd) {
        rmsnormForward("addRmsnorm", x, y, weight, eps, sum, out, rstd);
    }

    private void rmsnormForward(String op, Tensor x, Tensor y, Tensor weight, float eps, Tensor sum, Tensor out, Tensor rstd) {
        if (y == null) sameActivations(op, x, out);
        else sameActivations(op, x, y, sum, out);
        requireF32(weight, op);
        requireF32(rstd, op);
        int rows = x.rows(), dim = x.cols();
        if (weight.size() != dim || rstd.size() != rows)
            throw new IllegalArgumentException(op + ": x " + x.describe() + ", weight " + weight.describe() + ", out "
                    + out.describe() + ", rstd " + rstd.describe());
        if (rows == 0) return;
        rmsnorm.forward(x, y, weight, eps, sum, out, rstd);
    }

    @Override
    public void rmsnormBackward(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dweight) {
        rmsnormBackwardWith(dout, x, weight, rstd, null, dx, dweight);
    }

    /** dx ← ∂L/∂x + addend in the same pass (addend may alias dx: each element is read before it is written). */
    @Override
    public void rmsnormBackward(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor addend, Tensor dx, Tensor dweight) {
        rmsnormBackwardWith(dout, x, weight, rstd, addend, dx, dweight);
    }

    private void rmsnormBackwardWith(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor addend, Tensor dx, Tensor dweight) {
        if (addend == null) sameActivations("rmsnormBackward", dout, x, dx);
        else sameActivations("rmsnormBackward", dout, x, addend, dx);
        requireF32(weight, "rmsnormBackward");
        requireF32(rstd, "rmsnormBackward");
        requireF32(dweight, "rmsnormBackward");
        int rows = x.rows(), dim = x.cols();
        if (dout.size() != x.size() || dx.size() != x.size() || weight.size() != dim || dweight.size() != dim || rstd.size() != rows)
            throw new IllegalArgumentException("rmsnormBackward: dout " + dout.describe() + ", x " + x.describe() + ", weight "
                    + weight.describe() + ", rstd " + rstd.describe() + ", dx " + dx.describe() + ", dweight " + dweight.describe());
        if (rows == 0) return;
        rmsnorm.backward(dout, x, weight, rstd, addend, dx, dweight);
    }

    @Override
    public void rope(Tensor x, int seq, int heads, int headDim, float theta, int posOffset, boolean inverse, Tensor out) {
        sameActivations("rope", x, out);
        if (headDim % 2 != 0 || x.cols() != heads * headDim || out.size() != x.size() || seq <= 0)
            throw new IllegalArgumentException("rope: x " + x.describe() + " is not [rows, " + heads + "·" + headDim
                    + "] with an even head dimension (seq " + seq + ", out " + out.describe() + ")");
        if (posOffset < 0) throw new IllegalArgumentException("rope: negative position offset " + posOffset);
        long n = (long) x.rows() * heads * (headDim / 2);
        if (n == 0) return;
        Tensor table = ropeTables.covering(headDim, theta, posOffset + Math.min(seq, x.rows()));
        rope.apply(x, out, table, seq, heads, headDim, posOffset, inverse, n);
    }

    /** Largest head dimension the attention kernels hold in registers and shared memory. */
    public static final int MAX_HEAD_DIM = 128;

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, int batch, int qLen, int kvLen, int heads, int headDim,
                          Tensor out, Tensor lse) {
        checkAttention(q, k, v, batch, qLen, kvLen, heads, headDim);
        if (out.size() != q.size() || lse.size() != (long) batch * heads * qLen)
            throw new IllegalArgumentException("attention: out " + out.describe() + " or lse " + lse.describe() + " has the wrong size");
        sameTypes("attention", q, k, v, out);
        requireF32(lse, "attention");
        if (batch == 0 || qLen == 0 || heads == 0) return;
        if (q.dtype() == DType.F16) {                     // fp16 activations: through the attention path's own type
            DType via = attentionPath == AttentionPath.BF16 ? DType.BF16 : DType.F32;
            try (Tensor q2 = converted(q, via); Tensor k2 = converted(k, via); Tensor v2 = converted(v, via);
                 Tensor o2 = empty(via, out.shape())) {
                attention(q2, k2, v2, batch, qLen, kvLen, heads, headDim, o2, lse);
                convert(o2, out);
            }
            return;
        }
        boolean bf16 = q.dtype() == DType.BF16;
        if (attentionPath == AttentionPath.BF16) {
            tensorCoreAttention.forward(address(q), address(k), address(v), address(out), address(lse), batch, qLen, kvLen, heads, headDim, bf16);
            return;
        }
        if (bf16) throw new IllegalArgumentException("attention: bf16 activations need the bf16 attention path, not " + attentionPath);
        f32Attention.forward(q, k, v, batch, qLen, kvLen, heads, headDim, out, lse);
    }

    @Override
    public void attentionBackward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
                                  int batch, int qLen, int kvLen, int heads, int headDim,
                                  Tensor dq, Tensor dk, Tensor dv) {
        checkAttention(q, k, v, batch, qLen, kvLen, heads, headDim);
        if (dout.size() != q.size() || out.size() != q.size() || dq.size() != q.size() || dk.size() != k.size()
                || dv.size() != v.size() || lse.size() != (long) batch * heads * qLen)
            throw new IllegalArgumentException("attentionBackward: a gradient or saved tensor has the wrong size (dout "
                    + dout.describe() + ", dq " + dq.describe() + ", dk " + dk.describe() + ", dv " + dv.describe() + ")");
        sameTypes("attentionBackward", dout, q, k, v, out, dq, dk, dv);
        requireF32(lse, "attentionBackward");
        if (batch == 0 || heads == 0) return;
        if (q.dtype() == DType.F16) {
            DType via = attentionPath == AttentionPath.BF16 ? DType.BF16 : DType.F32;
            try (Tensor g2 = converted(dout, via); Tensor q2 = converted(q, via); Tensor k2 = converted(k, via);
                 Tensor v2 = converted(v, via); Tensor o2 = converted(out, via); Tensor dq2 = empty(via, dq.shape());
                 Tensor dk2 = empty(via, dk.shape()); Tensor dv2 = empty(via, dv.shape())) {
                attentionBackward(g2, q2, k2, v2, o2, lse, batch, qLen, kvLen, heads, headDim, dq2, dk2, dv2);
                convert(dq2, dq);
                convert(dk2, dk);
                convert(dv2, dv);
            }
            return;
        }
        if (qLen == 0) {
            fill(dk, 0f);
            fill(dv, 0f);
            return;
        }
        boolean bf16 = q.dtype() == DType.BF16;
        if (attentionPath == AttentionPath.BF16) {
            tensorCoreAttention.backward(address(dout), address(q), address(k), address(v), address(out), address(lse),
                    batch, qLen, kvLen, heads, headDim, address(dq), address(dk), address(dv), bf16);
            return;
        }
        if (bf16) throw new IllegalArgumentException("attentionBackward: bf16 activations need the bf16 attention path, not " + attentionPath);
        f32Attention.backward(dout, q, k, v, out, lse, batch, qLen, kvLen, heads, headDim, dq, dk, dv);
    }

    private volatile boolean ropeInAttention = !"false".equals(ropeProperty());

    private static String ropeProperty() {
        String p = System.getProperty("tern.cuda.ropeInAttention", "prologue");
        if (!List.of("tiles", "prologue", "false").contains(p))
            throw new IllegalArgumentException("-Dtern.cuda.ropeInAttention=" + p + ": expected tiles, prologue or false");
        return p;
    }

    /**
     * Whether the tensor-core attention applies RoPE itself ({@link #ropeAttention}): by default it does, bf16 q
     * and k rotated by one launch before it; {@code -Dtern.cuda.ropeInAttention=tiles} rotates each tile as it
     * lands instead (measured slower on the H200: {@link TensorCoreAttention.RopeVariant}), {@code false} (or
     * this, for tests and benchmarks) keeps rope.cu's separate launches.
     */
    void setRopeInAttention(boolean on) { ropeInAttention = on; }

    /** Which of the fused variants runs (tests, benchmarks); the property's by default. */
    void setRopeVariant(TensorCoreAttention.RopeVariant v) {
        if (tensorCoreAttention != null) tensorCoreAttention.ropeVariant(v);
    }

    /** RoPE inside the tensor-core attention: bf16 or f32 activations, head dimension 64 or 128. */
    @Override
    public boolean fusesRopeAttention(int headDim) {
        return ropeInAttention && attentionPath == AttentionPath.BF16 && activationType != DType.F16 && TensorCoreAttention.fusesRope(headDim);
    }

    @Override
    public void ropeAttention(Tensor q, Tensor k, Tensor v, int batch, int seq, int heads, int headDim, float theta,
                              Tensor out, Tensor lse) {
        if (!fusesRopeAttention(headDim) || q.dtype() == DType.F16) {
            Backend.super.ropeAttention(q, k, v, batch, seq, heads, headDim, theta, out, lse);
            return;
        }
        checkAttention(q, k, v, batch, seq, seq, heads, headDim);
        if (out.size() != q.size() || lse.size() != (long) batch * heads * seq)
            throw new IllegalArgumentException("ropeAttention: out " + out.describe() + " or lse " + lse.describe() + " has the wrong size");
        sameTypes("ropeAttention", q, k, v, out);
        requireF32(lse, "ropeAttention");
        if (batch == 0 || seq == 0 || heads == 0) return;
        tensorCoreAttention.forward(address(q), address(k), address(v), address(out), address(lse), batch, seq, seq, heads, headDim,
                q.dtype() == DType.BF16, address(ropeTable(headDim, theta, seq)));
    }

    @Override
    public void ropeAttentionBackward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
                                      int batch, int seq, int heads, int headDim, float theta,
                                      Tensor dq, Tensor dk, Tensor dv) {
        if (!fusesRopeAttention(headDim) || q.dtype() == DType.F16) {
            Backend.super.ropeAttentionBackward(dout, q, k, v, out, lse, batch, seq, heads, headDim, theta, dq, dk, dv);
            return;
        }
        checkAttention(q, k, v, batch, seq, seq, heads, headDim);
        if (dout.size() != q.size() || out.size() != q.size() || dq.size() != q.size() || dk.size() != k.size()
                || dv.size() != v.size() || lse.size() != (long) batch * heads * seq)
            throw new IllegalArgumentException("ropeAttentionBackward: a gradient or saved tensor has the wrong size (dout "
                    + dout.describe() + ", dq " + dq.describe() + ", dk " + dk.describe() + ", dv " + dv.describe() + ")");
        sameTypes("ropeAttentionBackward", dout, q, k, v, out, dq, dk, dv);
        requireF32(lse, "ropeAttentionBackward");
        if (batch == 0 || seq == 0 || heads == 0) return;
        tensorCoreAttention.backward(address(dout), address(q), address(k), address(v), address(out), address(lse),
                batch, seq, seq, heads, headDim, address(dq), address(dk), address(dv), q.dtype() == DType.BF16,
                address(ropeTable(headDim, theta, seq)));
    }

    /** t converted into a new tensor of {@code type} (pooled memory, freed by the caller). */
    private Tensor converted(Tensor t, DType type) {
        Tensor c = empty(type, t.shape());
        convert(t, c);
        return c;
    }

    private static void checkAttention(Tensor q, Tensor k, Tensor v, int batch, int qLen, int kvLen, int heads, int headDim) {
        if (headDim > MAX_HEAD_DIM || headDim <= 0)
            throw new UnsupportedOperationException("CUDA attention supports head dimensions 1.." + MAX_HEAD_DIM + ", not " + headDim);
        if (kvLen < qLen) throw new IllegalArgumentException("attention: kvLen " + kvLen + " < qLen " + qLen);
        long width = (long) heads * headDim;
        if (q.cols() != width || q.rows() != (long) batch * qLen || k.cols() != width || k.rows() != (long) batch * kvLen
                || v.cols() != width || v.rows() != (long) batch * kvLen)
            throw new IllegalArgumentException("attention: q " + q.describe() + ", k " + k.describe() + ", v " + v.describe()
                    + " do not fit batch " + batch + ", qLen " + qLen + ", kvLen " + kvLen + ", heads " + heads + ", headDim " + headDim);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        sameActivations("swiglu", gate, up, out);
        swiglu.forward(gate, up, out);
    }

    @Override
    public void swigluBackward(Tensor dout, Tensor gate, Tensor up, Tensor dgate, Tensor dup) {
        sameActivations("swigluBackward", dout, gate, up, dgate, dup);
        swiglu.backward(dout, gate, up, dgate, dup);
    }

    @Override
    public float crossEntropy(Tensor logits, int[] targets, Tensor dlogits, float lossScale) {
        return (float) crossEntropyLater(logits, targets, dlogits, lossScale).getAsDouble();
    }

    /** As {@link #crossEntropy}; inside a step captured as a CUDA graph, the loss is read after the replay. */
    @Override
    public java.util.function.DoubleSupplier crossEntropyLater(Tensor logits, int[] targets, Tensor dlogits, float lossScale) {
        requireActivation(logits, "crossEntropy");
        if (dlogits != null) requireActivation(dlogits, "crossEntropy");
        int n = logits.rows(), vocab = logits.cols();
        if (targets.length != n)
            throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for " + n + " rows of " + logits.describe());
        if (dlogits != null && dlogits.size() != logits.size())
            throw new IllegalArgumentException("crossEntropy: dlogits " + dlogits.describe() + " is not like " + logits.describe());
        int count = 0;
        for (int i = 0; i < n; i++) {
            int t = targets[i];
            if (t == -1) continue;
            if (t < 0 || t >= vocab)
                throw new IllegalArgumentException("crossEntropy: target " + t + " at row " + i + " is outside the vocabulary [0, " + vocab + ")");
            count++;
        }
        if (n == 0) return () -> 0f;        // as the CPU backend: no counted row, loss 0 and gradient 0
        return crossEntropy.lossAndGradient(logits, targets, dlogits, lossScale, count);
    }

    // ---- optimizer -----------------------------------------------------------------------------------

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams p) {
        sameSize("adamw", param, grad, m, v);
        adamw.step(param, grad, m, v, p);
    }

    /**
     * The same AdamW step for many tensors in one launch (one hyperparameter set): the four lists are
     * parallel, and each tensor's four members have the same size.
     */
    public void adamwAll(List<Tensor> params, List<Tensor> grads, List<Tensor> ms, List<Tensor> vs, AdamWParams p) {
        int t = params.size();
        if (grads.size() != t || ms.size() != t || vs.size() != t)
            throw new IllegalArgumentException("adamwAll: lists of " + t + ", " + grads.size() + ", " + ms.size() + ", " + vs.size() + " tensors");
        if (t == 0) return;
        adamw.stepAll(params, grads, ms, vs, p);
    }

    /** dsts[i] ← srcs[i] for f32 sources and 16-bit destinations of one type in one launch; otherwise one by one. */
    @Override
    public void convertAll(List<Tensor> srcs, List<Tensor> dsts) {
        int t = srcs.size();
        if (dsts.size() != t) throw new IllegalArgumentException("convertAll: " + t + " sources, " + dsts.size() + " destinations");
        if (t == 0) return;
        DType to = dsts.get(0).dtype();
        boolean multi = to == DType.BF16 || to == DType.F16;
        for (int i = 0; i < t && multi; i++) multi = srcs.get(i).dtype() == DType.F32 && dsts.get(i).dtype() == to;
        if (!multi) {
            Backend.super.convertAll(srcs, dsts);
            return;
        }
        elementwise.convertAll(srcs, dsts);
    }

    /** Every f32 tensor zeroed in one launch. */
    @Override
    public void zeroAll(List<Tensor> ts) {
        int t = ts.size();
        if (t == 0) return;
        elementwise.zeroAll(ts);
    }

    /**
     * The fake-quantized operands of many ternary weights in three launches (absmean sums, scales, γ·T), the
     * scales never leaving the device; the same values as {@link #quantizeTernaryInto} of each.
     */
    @Override
    public void quantizeTernaryAllInto(List<Tensor> ws, int shards, List<ShardAxis> axes, float eps, List<Tensor> outs) {
        int t = ws.size();
        if (outs.size() != t || axes.size() != t)
            throw new IllegalArgumentException("quantizeTernaryAllInto: " + t + " weights, " + axes.size() + " axes, " + outs.size() + " outputs");
        if (t == 0) return;
        boolean multi = shards <= Quantizers.MULTI_MAX_SHARDS;
        for (int i = 0; i < t && multi; i++) multi = outs.get(i).dtype() == outs.get(0).dtype();
        if (!multi) {
            Backend.super.quantizeTernaryAllInto(ws, shards, axes, eps, outs);
            return;
        }
        quantizers.ternaryAll(ws, shards, axes, eps, outs);
    }

    static void sameSizes(String op, Tensor a, Tensor b) {
        if (a.size() != b.size()) throw new IllegalArgumentException(op + ": " + a.describe() + " differs in size from " + b.describe());
    }

    /** Σ x² of every tensor in one launch and one read back; the per-tensor sums are added here in list order. */
    @Override
    public double sumOfSquaresAll(List<Tensor> xs) {
        return sumOfSquaresAllLater(xs).getAsDouble();
    }

    /** As {@link #sumOfSquaresAll}; inside a step captured as a CUDA graph, read after the replay. */
    @Override
    public java.util.function.DoubleSupplier sumOfSquaresAllLater(List<Tensor> xs) {
        if (xs.isEmpty()) return () -> 0;
        return elementwise.sumOfSquaresAll(xs);
    }

    // ---- helpers -------------------------------------------------------------------------------------

    static int axisCode(ShardAxis axis) { return axis == ShardAxis.ROWS ? 0 : 1; }

    private static DeviceStorage deviceStorage(Tensor t) {
        Storage s = t.storage();
        if (!(s instanceof DeviceStorage d))
            throw new IllegalArgumentException("tensor " + t.describe() + " is not on the CUDA device");
        return d;
    }

    static long addressOf(Tensor t) {
        return address(t);
    }

    /** The context this backend computes in (for streams and libraries that share it, such as NCCL). */
    CudaContext context() { return context; }

    // ---- hooks for whole-step launchers on their own stream (CudaGraph, CudaGraphDecodeStep) ----------

    /** The kernels, for launchers of their own sources (PackedGemv, CudaGraphDecodeStep). */
    Kernels kernels() { return kernels; }

    /**
     * Runs {@code body} with every kernel this backend launches sent to {@code stream} (a CUstream, e.g. one
     * being captured into a CUDA graph). Only ops that launch kernels and nothing else may run inside: no
     * allocation, host copy, read-back or cuBLAS call (the graph rules in CudaGraph).
     */
    void launchOn(long stream, Runnable body) {
        context.makeCurrent();
        long previous = kernels.useStream(stream);
        try {
            body.run();
        } finally {
            kernels.useStream(previous);
        }
    }

    private final List<CudaStepGraph> stepGraphs = new java.util.ArrayList<>();
    private DevicePointer cublasWorkspace;

    /**
     * A training step replayed as a CUDA graph ({@link CudaStepGraph}); closed with this backend at the
     * latest. cuBLAS gets a fixed workspace from here on, for eager and captured products alike.
     */
    @Override
    public tern.runtime.StepReplay stepReplay() {
        if (cublas != null && !cublas.capturable()) {
            System.err.println("tern: " + cublas.library() + " lacks cublasSetStream_v2 or cublasSetWorkspace_v2; training without the step graph");
            return null;
        }
        if (cublas != null && cublasWorkspace == null) {
            context.synchronize();
            cublasWorkspace = context.allocate(CUBLAS_WORKSPACE);
            cublas.useWorkspace(cublasWorkspace.address(), CUBLAS_WORKSPACE);
        }
        CudaStepGraph g = new CudaStepGraph(this, pool);
        stepGraphs.add(g);
        return g;
    }

    /** A step graph closed itself. */
    void forget(CudaStepGraph g) { stepGraphs.remove(g); }

    /** cuBLAS's workspace under graphs: 32 MiB, what NVIDIA recommends for Hopper (ample below it). */
    private static final long CUBLAS_WORKSPACE = 32L << 20;

    /** Sends cuBLAS's calls to {@code stream} (0: back to the default stream), for a capture. */
    void cublasOn(long stream) {
        if (cublas != null) cublas.useStream(stream);
    }

    /** The RoPE (cos, sin) table of (headDim, theta) covering positions [0, positions), kept by the backend. */
    Tensor ropeTable(int headDim, float theta, int positions) { return ropeTables.covering(headDim, theta, positions); }

    /** The device address of packed weights' words and of their per-shard scales (TernaryLayout). */
    static long[] packedAddresses(TernaryWeights w) { return new long[] {packedAddress(w), scalesAddress(w)}; }

    /** The device address of a tensor of this backend (for libraries called with raw pointers: NCCL). */
    static long deviceAddress(Tensor t) { return address(t); }

    private static long address(Tensor t) {
        return deviceStorage(t).address() + t.offsetBytes();
    }

    private static DevicePointer pointer(Tensor t) {
        return deviceStorage(t).pointer().plus(t.offsetBytes());
    }

    /** The packed words of weights this backend packed (layout and scales after them: TernaryLayout). */
    static long packedAddress(TernaryWeights w) {
        Tensor p = w.packed();
        if (p.dtype() != DType.TERNARY2 || p.rows() != TernaryLayout.paddedRows(w.rows()) || p.cols() != TernaryLayout.kcCount(w.cols()) * 32
                || p.storage().byteSize() != p.byteSize() + 4L * w.shards() || p.offsetBytes() != 0)
            throw new IllegalArgumentException("ternary weights " + p.describe() + " [" + w.rows() + ", " + w.cols()
                    + "] were not packed by the CUDA backend");
        return address(p);
    }

    static long scalesAddress(TernaryWeights w) {
        return packedAddress(w) + w.packed().byteSize();
    }

    /** The kernel-name suffix of an activation tensor's element type (dtype.h's instantiations). */
    static String suffix(Tensor t) {
        return switch (t.dtype()) {
            case F32 -> "_f32";
            case BF16 -> "_bf16";
            case F16 -> "_f16";
            default -> throw new IllegalArgumentException("no kernel takes " + t.describe() + " as an activation");
        };
    }

    /** A device tensor of f32, bf16 or f16. */
    static void requireActivation(Tensor t, String op) {
        DType d = t.dtype();
        if (d != DType.F32 && d != DType.BF16 && d != DType.F16)
            throw new IllegalArgumentException(op + " needs an f32, bf16 or f16 tensor, not " + t.describe());
        deviceStorage(t);
    }

    /** Activations of one element type and one size. */
    private static void sameActivations(String op, Tensor... ts) {
        sameTypes(op, ts);
        for (int i = 1; i < ts.length; i++)
            if (ts[i].size() != ts[0].size())
                throw new IllegalArgumentException(op + ": " + ts[i].describe() + " differs in size from " + ts[0].describe());
    }

    /** Activations of one element type. */
    private static void sameTypes(String op, Tensor... ts) {
        for (Tensor t : ts) requireActivation(t, op);
        for (int i = 1; i < ts.length; i++)
            if (ts[i].dtype() != ts[0].dtype())
                throw new IllegalArgumentException(op + ": " + ts[i].describe() + " is not stored like " + ts[0].describe()
                        + " (activations of one op share an element type)");
    }

    static void requireF32(Tensor t, String op) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(op + " needs an f32 tensor, not " + t.describe());
        deviceStorage(t);
    }

    static void sameSize(String op, Tensor... ts) {
        for (Tensor t : ts) requireF32(t, op);
        for (int i = 1; i < ts.length; i++)
            if (ts[i].size() != ts[0].size())
                throw new IllegalArgumentException(op + ": " + ts[i].describe() + " differs in size from " + ts[0].describe());
    }

    private static void checkIds(String op, int[] ids, Tensor table) {
        int rows = table.rows();
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] >= rows)
                throw new IllegalArgumentException(op + ": id " + ids[i] + " at position " + i + " is outside [0, " + rows
                        + ") of " + table.describe());
    }

    static int ceilDiv(int a, int b) { return (a + b - 1) / b; }

    static long ceilDiv(long a, long b) { return (a + b - 1) / b; }

    @Override
    public void close() {
        for (CudaStepGraph g : List.copyOf(stepGraphs)) g.close();
        if (cublas != null) cublas.close();
        if (cublasWorkspace != null) context.free(cublasWorkspace);
        ropeTables.close();
        scratch.close();
        weightScratch.close();
        castA.close();
        castB.close();
        stage.close();
        kernels.close();
        pool.releaseIdle();
        context.close();
    }
}
