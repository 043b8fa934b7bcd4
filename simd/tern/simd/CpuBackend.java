package tern.simd;

import static tern.simd.Shapes.require;
import static tern.simd.Shapes.requireHostF32;
import static tern.simd.Shapes.requireMatrix;
import static tern.simd.Shapes.requireSameSize;
import static tern.simd.Shapes.requireSize;

import java.lang.foreign.MemorySegment;
import tern.runtime.AdamWParams;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * The CPU backend: host tensors, every op of {@link Backend} on the Vector API (or its scalar twin), spread
 * over the {@link Parallel} pool. This class checks arguments and dispatches; the math lives in one class
 * per op ({@link RmsNorm}, {@link Attention}, ...), the inner loops in {@link FloatKernels}, the matmuls in
 * {@link FloatMatmul} and {@link TernaryMatmul}.
 *
 * <p>Results are reproducible run to run: every reduction that spans parallel chunks (sumOfSquares,
 * RMSNorm's weight gradient, the cross-entropy mean) sums per-block partials in block order, with block
 * sizes that depend on the shapes only, not on the thread count. The instance is stateless apart from
 * RoPE's cos/sin tables, so one backend may serve several threads.
 */
public final class CpuBackend implements Backend {
    private final KernelProvider provider;
    private final FloatKernels kernels;
    private final Elementwise elementwise;
    private final Quantizers quantizers;
    private final Embedding embedding;
    private final RmsNorm rmsNorm;
    private final Rope rope;
    private final Attention attention;
    private final SwiGlu swiGlu;
    private final CrossEntropy crossEntropy;
    private final AdamW adamW;

    /** The backend on the preferred kernels of every family ({@link KernelProvider#preferred()}). */
    public CpuBackend() {
        this(KernelProvider.preferred());
    }

    /**
     * The backend on the given elementwise kernels (tests run the scalar and the vector path side by side):
     * the scalar ones take every family's scalar twin, others every family's preferred one.
     */
    public CpuBackend(FloatKernels kernels) {
        this(kernels instanceof ScalarFloatKernels ? KernelProvider.scalar() : KernelProvider.preferred(), kernels);
    }

    /** The backend on one provider's kernels of every family. */
    public CpuBackend(KernelProvider provider) {
        this(provider, provider.floats());
    }

    private CpuBackend(KernelProvider provider, FloatKernels kernels) {
        this.provider = provider;
        this.kernels = kernels;
        this.elementwise = new Elementwise(kernels);
        this.quantizers = new Quantizers(kernels);
        this.embedding = new Embedding(kernels);
        this.rmsNorm = new RmsNorm(kernels);
        this.rope = new Rope(kernels);
        this.attention = new Attention(kernels);
        this.swiGlu = new SwiGlu(kernels);
        this.crossEntropy = new CrossEntropy(kernels);
        this.adamW = new AdamW(kernels);
    }

    /** The kernels this backend runs on. */
    public FloatKernels kernels() {
        return kernels;
    }

    public static CpuBackend create() {
        return new CpuBackend();
    }

    /** The backend forced onto the plain-Java kernels, whatever {@link Vectorization} says. */
    public static CpuBackend scalar() {
        return new CpuBackend(KernelProvider.scalar());
    }

    /** The kernels of every family this backend runs on. */
    public KernelProvider provider() {
        return provider;
    }

    @Override
    public String name() {
        return "cpu (" + (!provider.vector() && Vectorization.ENABLED
                ? "scalar (chosen by the caller)" : Vectorization.describe()) + ")";
    }

    @Override public Device device() { return Device.CPU; }

    // ---- memory ----------------------------------------------------------------------------------------

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        return Tensor.zeros(dtype, shape);
    }

    @Override
    public Tensor upload(float[] values, int... shape) {
        return Tensor.of(values, shape);
    }

    @Override
    public float[] download(Tensor t) {
        requireHostF32("download", "t", t);
        return t.toFloatArray();
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        require(src.dtype() == dst.dtype() && src.size() == dst.size(), "copy",
                "src " + src.describe() + " and dst " + dst.describe() + " differ in dtype or size");
        require(src.device() == Device.CPU && dst.device() == Device.CPU, "copy",
                "both tensors must be on the host, got " + src.describe() + " and " + dst.describe());
        long clock = OpClock.start();
        MemorySegment.copy(src.segment(), 0, dst.segment(), 0, src.byteSize());
        OpClock.stop(OpClock.Kind.OTHER, clock);
    }

    @Override
    public void fill(Tensor t, float value) {
        requireHostF32("fill", "t", t);
        elementwise.fill(t.segment(), value, t.size());
    }

    // ---- elementwise -----------------------------------------------------------------------------------

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        requireHostF32("add", "a", a);
        requireHostF32("add", "b", b);
        requireHostF32("add", "out", out);
        requireSameSize("add", "a", a, "b", b);
        requireSameSize("add", "a", a, "out", out);
        long clock = OpClock.start();
        elementwise.add(a.segment(), b.segment(), out.segment(), a.size());
        OpClock.stop(OpClock.Kind.OTHER, clock);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        requireHostF32("axpy", "x", x);
        requireHostF32("axpy", "y", y);
        requireSameSize("axpy", "x", x, "y", y);
        elementwise.axpy(alpha, x.segment(), y.segment(), x.size());
    }

    @Override
    public void scale(Tensor x, float alpha) {
        requireHostF32("scale", "x", x);
        elementwise.scale(x.segment(), alpha, x.size());
    }

    @Override
    public double sumOfSquares(Tensor x) {
        requireHostF32("sumOfSquares", "x", x);
        return elementwise.sumOfSquares(x.segment(), x.size());
    }

    @Override
    public boolean allFinite(Tensor x) {
        requireHostF32("allFinite", "x", x);
        return elementwise.allFinite(x.segment(), x.size());
    }

    // ---- matmul ----------------------------------------------------------------------------------------

    @Override
    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, boolean accumulate) {
        // An f16 matrix is a packed file's LM head, served in place: y = x·Wᵀ only.
        long clock = OpClock.start();
        if (b.dtype() == DType.F16 && !transA && transB) PackedOps.matmulF16(provider, a, b, c, accumulate);
        else FloatMatmul.matmul(provider.matmul(), a, transA, b, transB, c, accumulate);
        OpClock.stop(OpClock.Kind.MATMUL, clock);
    }

    // ---- ternary ---------------------------------------------------------------------------------------

    @Override
    public TernaryWeights packTernary(Tensor w, int shards, ShardAxis axis, float eps) {
        requireHostF32("packTernary", "w", w);
        return TernaryMatmul.pack(w, shards, axis, eps);
    }

    @Override
    public void unpackTernary(TernaryWeights w, Tensor out) {
        requireHostF32("unpackTernary", "out", out);
        requireMatrix("unpackTernary", "out", out, w.rows(), w.cols());
        if (PackedOps.isT9(w)) {
            float[] v = PackedOps.geometry(w).dequantize();
            MemorySegment.copy(v, 0, out.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, v.length);
        } else TernaryMatmul.unpack(w, out);
    }

    @Override
    public void ternaryMatmul(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        long clock = OpClock.start();
        if (PackedOps.isT9(w)) PackedOps.matmul(provider, x, new TernaryWeights[] {w}, new Tensor[] {y}, accumulate, packedActivations);
        else TernaryMatmul.forward(provider.ternary(), x, w, y, accumulate);
        OpClock.stop(OpClock.Kind.PACKED, clock);
    }

    @Override
    public void ternaryMatmulT(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        if (PackedOps.isT9(w))
            throw new IllegalArgumentException("ternaryMatmulT: " + w.rows() + "×" + w.cols() + " weights from a packed model file serve inference only (no Tᵀ)");
        TernaryMatmul.backward(provider.ternary(), dy, w, dx, accumulate);
    }

    @Override
    public TernaryWeights loadTernary(Tensor codes, int rows, int cols, float[] scales, ShardAxis axis) {
        return PackedOps.load(provider, packedActivations, codes, rows, cols, scales, axis);
    }

    @Override
    public void ternaryMatmulShared(Tensor x, TernaryWeights[] ws, Tensor[] ys) {
        boolean allT9 = true;
        for (TernaryWeights w : ws) allT9 &= PackedOps.isT9(w);
        if (allT9 && ws.length > 0) {
            long clock = OpClock.start();
            PackedOps.matmul(provider, x, ws, ys, false, packedActivations);
            OpClock.stop(OpClock.Kind.PACKED, clock);
        } else Backend.super.ternaryMatmulShared(x, ws, ys);   // one ternaryMatmul per weight, each timed
    }

    private volatile PackedMatmul.Activations packedActivations = PackedMatmul.Activations.FLOAT;

    /**
     * How products on t9 weights (a packed model file's) take their activations: FLOAT (the model as
     * trained, the default) or INT8 (absmax per row, integer sums: BitNet b1.58's quantizer).
     */
    public void setPackedActivations(PackedMatmul.Activations a) { this.packedActivations = java.util.Objects.requireNonNull(a); }

    public PackedMatmul.Activations packedActivations() { return packedActivations; }

    // ---- fake quantizers -------------------------------------------------------------------------------

    @Override
    public float[] quantizeTernary(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        requireHostF32("quantizeTernary", "w", w);
        requireHostF32("quantizeTernary", "out", out);
        requireMatrix("quantizeTernary", "out", out, w.rows(), w.cols());
        int extent = axis == ShardAxis.ROWS ? w.rows() : w.cols();
        require(shards >= 1 && shards <= Math.max(1, extent), "quantizeTernary",
                shards + " shards along " + axis + " of w " + w.describe());
        return quantizers.ternary(w, shards, axis, eps, out);
    }

    @Override
    public float[] quantizeBinary(Tensor w, Granularity granularity, Tensor out) {
        requireHostF32("quantizeBinary", "w", w);
        requireHostF32("quantizeBinary", "out", out);
        requireMatrix("quantizeBinary", "out", out, w.rows(), w.cols());
        return quantizers.binary(w, granularity, out);
    }

    @Override
    public void quantizeSymmetric(Tensor x, int bits, Granularity granularity, Tensor out) {
        requireHostF32("quantizeSymmetric", "x", x);
        requireHostF32("quantizeSymmetric", "out", out);
        requireMatrix("quantizeSymmetric", "out", out, x.rows(), x.cols());
        require(bits >= 2 && bits <= 16, "quantizeSymmetric", "bits must be in 2..16, got " + bits);
        quantizers.symmetric(x, bits, granularity, out);
    }

    // ---- layers ----------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor table, int[] ids, Tensor out) {
        if (table.dtype() == DType.F16) {   // a packed file's, in place
            long clock = OpClock.start();
            PackedOps.embeddingF16(table, ids, out);
            OpClock.stop(OpClock.Kind.OTHER, clock);
            return;
        }
        requireHostF32("embedding", "table", table);
        requireHostF32("embedding", "out", out);
        requireMatrix("embedding", "out", out, ids.length, table.cols());
        Embedding.checkIds("embedding", ids, table.rows());
        embedding.forward(table.segment(), ids, table.cols(), out.segment());
    }

    @Override
    public void embeddingBackward(Tensor dout, int[] ids, Tensor dtable) {
        requireHostF32("embeddingBackward", "dout", dout);
        requireHostF32("embeddingBackward", "dtable", dtable);
        requireMatrix("embeddingBackward", "dout", dout, ids.length, dtable.cols());
        Embedding.checkIds("embeddingBackward", ids, dtable.rows());
        embedding.backward(dout.segment(), ids, dtable.cols(), dtable.segment());
    }

    @Override
    public void rmsnorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd) {
        String op = "rmsnorm";
        requireHostF32(op, "x", x);
        requireHostF32(op, "weight", weight);
        requireHostF32(op, "out", out);
        requireHostF32(op, "rstd", rstd);
        int rows = x.rows(), cols = x.cols();
        requireSize(op, "weight", weight, cols);
        requireMatrix(op, "out", out, rows, cols);
        requireSize(op, "rstd", rstd, rows);
        long clock = OpClock.start();
        rmsNorm.forward(x.segment(), weight.segment(), eps, out.segment(), rstd.segment(), rows, cols);
        OpClock.stop(OpClock.Kind.NORM, clock);
    }

    @Override
    public void rmsnormBackward(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dweight) {
        String op = "rmsnormBackward";
        for (Tensor t : new Tensor[] {dout, x, weight, rstd, dx, dweight}) requireHostF32(op, "argument", t);
        int rows = x.rows(), cols = x.cols();
        requireMatrix(op, "dout", dout, rows, cols);
        requireMatrix(op, "dx", dx, rows, cols);
        requireSize(op, "weight", weight, cols);
        requireSize(op, "dweight", dweight, cols);
        requireSize(op, "rstd", rstd, rows);
        rmsNorm.backward(dout.segment(), x.segment(), weight.segment(), rstd.segment(), dx.segment(),
                dweight.segment(), rows, cols);
    }

    @Override
    public void rope(Tensor x, int seq, int heads, int headDim, float theta, int posOffset, boolean inverse, Tensor out) {
        String op = "rope";
        requireHostF32(op, "x", x);
        requireHostF32(op, "out", out);
        require(headDim > 0 && headDim % 2 == 0, op, "headDim must be even and positive, got " + headDim);
        require(heads > 0 && seq > 0 && posOffset >= 0, op,
                "heads and seq must be positive and posOffset ≥ 0, got heads " + heads + ", seq " + seq + ", posOffset " + posOffset);
        require(x.cols() == heads * headDim && x.rows() % seq == 0, op, "x " + x.describe()
                + " should be [batch·" + seq + ", " + heads + "·" + headDim + "]");
        requireMatrix(op, "out", out, x.rows(), x.cols());
        long clock = OpClock.start();
        rope.apply(x.segment(), x.rows(), seq, heads, headDim, theta, posOffset, inverse, out.segment());
        OpClock.stop(OpClock.Kind.OTHER, clock);
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, int batch, int qLen, int kvLen, int heads, int headDim,
                          Tensor out, Tensor lse) {
        String op = "attention";
        checkAttention(op, q, k, v, batch, qLen, kvLen, heads, headDim);
        requireHostF32(op, "out", out);
        requireHostF32(op, "lse", lse);
        requireMatrix(op, "out", out, (long) batch * qLen, (long) heads * headDim);
        requireSize(op, "lse", lse, (long) batch * heads * qLen);
        long clock = OpClock.start();
        attention.forward(q.segment(), k.segment(), v.segment(), batch, qLen, kvLen, heads, headDim,
                out.segment(), lse.segment());
        OpClock.stop(OpClock.Kind.ATTENTION, clock);
    }

    @Override
    public void attentionDecode(Tensor q, Tensor[] keys, Tensor[] values, int heads, int headDim, Tensor out, Tensor lse) {
        String op = "attentionDecode";
        int batch = keys.length;
        require(batch > 0 && values.length == batch && heads > 0 && headDim > 0, op,
                "need one key and one value cache per query row and heads, headDim > 0, got " + keys.length + " key caches, "
                        + values.length + " value caches, heads " + heads + ", headDim " + headDim);
        long width = (long) heads * headDim;
        requireHostF32(op, "q", q);
        requireHostF32(op, "out", out);
        requireHostF32(op, "lse", lse);
        requireMatrix(op, "q", q, batch, width);
        requireMatrix(op, "out", out, batch, width);
        requireSize(op, "lse", lse, (long) batch * heads);
        MemorySegment[] ks = new MemorySegment[batch], vs = new MemorySegment[batch];
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            requireHostF32(op, "keys[" + b + "]", keys[b]);
            requireHostF32(op, "values[" + b + "]", values[b]);
            lengths[b] = keys[b].dim(0);
            require(lengths[b] > 0, op, "sequence " + b + " has no cached positions");
            requireMatrix(op, "keys[" + b + "]", keys[b], lengths[b], width);
            requireMatrix(op, "values[" + b + "]", values[b], lengths[b], width);
            ks[b] = keys[b].segment();
            vs[b] = values[b].segment();
        }
        long clock = OpClock.start();
        attention.forwardDecode(q.segment(), ks, vs, lengths, heads, headDim, out.segment(), lse.segment());
        OpClock.stop(OpClock.Kind.ATTENTION, clock);
    }

    @Override
    public void attentionBackward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
                                  int batch, int qLen, int kvLen, int heads, int headDim,
                                  Tensor dq, Tensor dk, Tensor dv) {
        String op = "attentionBackward";
        checkAttention(op, q, k, v, batch, qLen, kvLen, heads, headDim);
        for (Tensor t : new Tensor[] {dout, out, lse, dq, dk, dv}) requireHostF32(op, "argument", t);
        long width = (long) heads * headDim;
        requireMatrix(op, "dout", dout, (long) batch * qLen, width);
        requireMatrix(op, "out", out, (long) batch * qLen, width);
        requireMatrix(op, "dq", dq, (long) batch * qLen, width);
        requireMatrix(op, "dk", dk, (long) batch * kvLen, width);
        requireMatrix(op, "dv", dv, (long) batch * kvLen, width);
        requireSize(op, "lse", lse, (long) batch * heads * qLen);
        attention.backward(dout.segment(), q.segment(), k.segment(), v.segment(), out.segment(), lse.segment(),
                batch, qLen, kvLen, heads, headDim, dq.segment(), dk.segment(), dv.segment());
    }

    private static void checkAttention(String op, Tensor q, Tensor k, Tensor v, int batch, int qLen, int kvLen,
                                       int heads, int headDim) {
        requireHostF32(op, "q", q);
        requireHostF32(op, "k", k);
        requireHostF32(op, "v", v);
        require(batch > 0 && qLen > 0 && heads > 0 && headDim > 0 && kvLen >= qLen, op,
                "need batch, qLen, heads, headDim > 0 and kvLen ≥ qLen, got batch " + batch + ", qLen " + qLen
                        + ", kvLen " + kvLen + ", heads " + heads + ", headDim " + headDim);
        long width = (long) heads * headDim;
        requireMatrix(op, "q", q, (long) batch * qLen, width);
        requireMatrix(op, "k", k, (long) batch * kvLen, width);
        requireMatrix(op, "v", v, (long) batch * kvLen, width);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        requireHostF32("swiglu", "gate", gate);
        requireHostF32("swiglu", "up", up);
        requireHostF32("swiglu", "out", out);
        requireSameSize("swiglu", "gate", gate, "up", up);
        requireSameSize("swiglu", "gate", gate, "out", out);
        long clock = OpClock.start();
        swiGlu.forward(gate.segment(), up.segment(), out.segment(), gate.size());
        OpClock.stop(OpClock.Kind.OTHER, clock);
    }

    @Override
    public void swigluBackward(Tensor dout, Tensor gate, Tensor up, Tensor dgate, Tensor dup) {
        String op = "swigluBackward";
        requireHostF32(op, "dout", dout);
        requireHostF32(op, "gate", gate);
        requireHostF32(op, "up", up);
        requireHostF32(op, "dgate", dgate);
        requireHostF32(op, "dup", dup);
        requireSameSize(op, "gate", gate, "up", up);
        requireSameSize(op, "gate", gate, "dout", dout);
        requireSameSize(op, "gate", gate, "dgate", dgate);
        requireSameSize(op, "gate", gate, "dup", dup);
        swiGlu.backward(dout.segment(), gate.segment(), up.segment(), dgate.segment(), dup.segment(), gate.size());
    }

    @Override
    public float crossEntropy(Tensor logits, int[] targets, Tensor dlogits, float lossScale) {
        String op = "crossEntropy";
        requireHostF32(op, "logits", logits);
        require(targets.length == logits.rows(), op, targets.length + " targets for logits " + logits.describe());
        CrossEntropy.checkTargets(op, targets, logits.cols());
        if (dlogits != null) {
            requireHostF32(op, "dlogits", dlogits);
            requireMatrix(op, "dlogits", dlogits, logits.rows(), logits.cols());
        }
        return crossEntropy.apply(logits.segment(), logits.rows(), logits.cols(), targets,
                dlogits == null ? null : dlogits.segment(), lossScale);
    }

    // ---- optimizer -------------------------------------------------------------------------------------

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams p) {
        String op = "adamw";
        requireHostF32(op, "param", param);
        requireHostF32(op, "grad", grad);
        requireHostF32(op, "m", m);
        requireHostF32(op, "v", v);
        requireSameSize(op, "param", param, "grad", grad);
        requireSameSize(op, "param", param, "m", m);
        requireSameSize(op, "param", param, "v", v);
        adamW.step(param.segment(), grad.segment(), m.segment(), v.segment(), param.size(), p);
    }

}
