package tern.runtime;

/**
 * Every operation the LLaMA model needs, forward and backward, on one device. Nothing above the runtime
 * branches on the device: the model and trainer call these methods only.
 *
 * <p>Conventions. Tensors are dense row-major f32 unless stated; activation arguments may also be of the
 * backend's {@link #activationType} (bf16 or f16 on a GPU computing in 16 bits), all of one op's activations of
 * one type, while weights, their gradients and row statistics (rstd, lse) stay f32. A "matrix" [m, n] is any tensor seen as
 * {@link Tensor#rows()} × {@link Tensor#cols()}. Outputs are written, never aliased with inputs unless a
 * method says so. Methods with {@code accumulate} add into the output when true. Backward methods
 * accumulate into parameter gradients (a parameter used twice sums its gradients) and write input
 * gradients. Activations are laid out [batch·seq, heads·headDim]. Integer ids are host arrays.
 */
public interface Backend extends AutoCloseable {

    String name();

    Device device();

    /** The number type the heavy products run in ("f32", or "bf16" for tensor-core inputs), for run configs and logs. */
    default String compute() { return "f32"; }

    /**
     * The element type a recording {@link Tape} stores activations and their gradients in: {@link DType#F32}
     * (the reference, and every host backend), or {@link DType#BF16} on a GPU computing in bf16, which halves
     * the saved activations and lets products read them without a conversion. Master weights, their
     * gradients, AdamW's moments, norms' rstd, attention's lse and all reductions stay f32 whatever this says.
     * A backend whose activation type is not f32 takes it (and f32) in every activation argument of its ops.
     */
    default DType activationType() { return DType.F32; }

    // ---- memory ----------------------------------------------------------------------------------------

    /** A zeroed tensor on this backend's device. */
    Tensor zeros(DType dtype, int... shape);

    /**
     * A tensor whose contents are undefined until written, for outputs an op overwrites whole (a GPU skips the
     * memset; host backends may just zero it).
     */
    default Tensor empty(DType dtype, int... shape) { return zeros(dtype, shape); }

    /** f32 values copied onto this device. */
    Tensor upload(float[] values, int... shape);

    /** An f32 tensor's values copied to the host. */
    float[] download(Tensor t);

    /** dst ← src (same dtype and size; shapes may differ). */
    void copy(Tensor src, Tensor dst);

    void fill(Tensor t, float value);

    /**
     * dst ← src converted to dst's element type (same size), rounding to nearest even when narrowing; the
     * same type is a {@link #copy}. Backends whose {@link #activationType} is f32 need only that case.
     */
    default void convert(Tensor src, Tensor dst) {
        if (src.dtype() == dst.dtype()) {
            copy(src, dst);
            return;
        }
        throw new UnsupportedOperationException(name() + " cannot convert " + src.describe() + " to " + dst.describe());
    }

    /** {@link #convert} of each (srcs[i] → dsts[i]); a backend may do them all in one launch. */
    default void convertAll(java.util.List<Tensor> srcs, java.util.List<Tensor> dsts) {
        if (srcs.size() != dsts.size()) throw new IllegalArgumentException("convertAll: " + srcs.size() + " sources, " + dsts.size() + " destinations");
        for (int i = 0; i < srcs.size(); i++) convert(srcs.get(i), dsts.get(i));
    }

    /** Each tensor ← 0 (gradients before a step); a backend may zero them all in one launch. */
    default void zeroAll(java.util.List<Tensor> ts) {
        for (Tensor t : ts) fill(t, 0f);
    }

    // ---- elementwise -------------------------------------------------------------------------------------

    /** out ← a + b (residual connections). out may alias a or b. */
    void add(Tensor a, Tensor b, Tensor out);

    /** y ← y + alpha·x. */
    void axpy(float alpha, Tensor x, Tensor y);

    /** x ← alpha·x. */
    void scale(Tensor x, float alpha);

    /** Σ x², accumulated in double (gradient norms). */
    double sumOfSquares(Tensor x);

    /**
     * Σ {@link #sumOfSquares} over the tensors, added in list order. A backend may override it to read all
     * sums back at once (CUDA: one launch and one read instead of one of each per tensor).
     */
    default double sumOfSquaresAll(java.util.List<Tensor> xs) {
        double sum = 0;
        for (Tensor x : xs) sum += sumOfSquares(x);
        return sum;
    }

    /**
     * {@link #sumOfSquaresAll}, read when the supplier is asked: inside a step replayed as a graph
     * ({@link #stepReplay}) the sums exist only after the replay. Host backends compute it now.
     */
    default java.util.function.DoubleSupplier sumOfSquaresAllLater(java.util.List<Tensor> xs) {
        double sum = sumOfSquaresAll(xs);
        return () -> sum;
    }

    /** True if every element is finite (NaN/Inf guard). */
    boolean allFinite(Tensor x);

    // ---- matmul --------------------------------------------------------------------------------------

    /**
     * c ← op(a)·op(b) (+ c if accumulate), op = transpose when the flag is set. With a [m,k] (or [k,m]
     * transposed) and b [k,n] (or [n,k] transposed), c is [m,n]. The linear layer's three products are
     * y = x·Wᵀ (transB), dx = dy·W, dW += dyᵀ·x (transA).
     */
    void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, boolean accumulate);

    // ---- ternary -------------------------------------------------------------------------------------

    /**
     * Absmean ternary quantization of w [out, in] (SPEC.md): per shard γ = ε + mean|w|,
     * T = clamp(rint(w/γ), −1, 1) with rint rounding half to even (as torch.round). Packs T for
     * {@link #ternaryMatmul} and {@link #ternaryMatmulT}.
     */
    TernaryWeights packTernary(Tensor w, int shards, ShardAxis axis, float eps);

    /** out [rows, cols] ← γ·T, the dequantized matrix. */
    void unpackTernary(TernaryWeights w, Tensor out);

    /**
     * y [m, out] ← x [m, in] · (γT)ᵀ (+ y if accumulate): additions and subtractions of x's columns chosen
     * by T, one multiply by γ per output (per shard).
     */
    void ternaryMatmul(Tensor x, TernaryWeights w, Tensor y, boolean accumulate);

    /** dx [m, in] ← dy [m, out] · (γT) (+ dx if accumulate): the input gradient through a ternary linear. */
    void ternaryMatmulT(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate);

    /**
     * Inference weights from a packed model file: {@code codes} is a host {@link DType#T9} tensor (the file's
     * t9 layout, tern.simd.PackedTernary) of T [rows, cols] with per-shard scales γ. The result serves
     * {@link #ternaryMatmul} only (inference never needs Tᵀ, so {@link #ternaryMatmulT} may refuse it); the
     * backend keeps it as it reads best (CPU: the codes in place, e.g. still memory-mapped; CUDA: repacked
     * into its own layout on the device). The caller keeps {@code codes} alive as long as the result.
     */
    TernaryWeights loadTernary(Tensor codes, int rows, int cols, float[] scales, ShardAxis axis);

    /**
     * ys[i] ← x · (γT_i)ᵀ for matrices that read the same input (q, k, v; gate, up). A backend may do them in
     * one pass over x (CPU: one table build and one parallel loop for all of them); the default runs
     * {@link #ternaryMatmul} once per matrix.
     */
    default void ternaryMatmulShared(Tensor x, TernaryWeights[] ws, Tensor[] ys) {
        if (ws.length != ys.length) throw new IllegalArgumentException(ws.length + " matrices but " + ys.length + " outputs");
        for (int i = 0; i < ws.length; i++) ternaryMatmul(x, ws[i], ys[i], false);
    }

    // ---- fake quantizers (forward; their backward is the straight-through identity) --------------------

    /** out ← γ·T as {@link #packTernary} defines it; returns the per-shard scales γ. out may alias w. */
    float[] quantizeTernary(Tensor w, int shards, ShardAxis axis, float eps, Tensor out);

    /**
     * out ← γ·T as {@link #quantizeTernary}, the scales not returned: a GPU keeps them on the device, so the
     * fake-quantized operand of a training step costs no host synchronization. out is f32 or the
     * {@link #activationType} (the operand the products then read without a conversion).
     */
    default void quantizeTernaryInto(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        quantizeTernary(w, shards, axis, eps, out);
    }

    /**
     * {@link #quantizeTernaryInto} of each (ws[i] → outs[i]) with {@code shards} shards along axes[i]; a backend may
     * do them all at once (CUDA: three launches for every block linear of a step instead of three per weight).
     */
    default void quantizeTernaryAllInto(java.util.List<Tensor> ws, int shards, java.util.List<ShardAxis> axes, float eps,
                                        java.util.List<Tensor> outs) {
        if (ws.size() != outs.size() || ws.size() != axes.size())
            throw new IllegalArgumentException("quantizeTernaryAllInto: " + ws.size() + " weights, " + axes.size() + " axes, " + outs.size() + " outputs");
        for (int i = 0; i < ws.size(); i++) quantizeTernaryInto(ws.get(i), shards, axes.get(i), eps, outs.get(i));
    }

    /** out ← α·sign(w) with α = mean|w| per granularity unit; sign(0) = +1. Returns the scales. */
    float[] quantizeBinary(Tensor w, Granularity granularity, Tensor out);

    /**
     * Symmetric k-bit integer fake quantization, 2 ≤ bits ≤ 16: q = 2^(bits−1) − 1,
     * s = max|x| / q per unit (s = 1 where max|x| = 0), out ← s·clamp(rint(x/s), −q, q).
     */
    void quantizeSymmetric(Tensor x, int bits, Granularity granularity, Tensor out);

    // ---- layers --------------------------------------------------------------------------------------

    /** out [n, dim] ← table[ids[i]] ; ids outside [0, rows) are an error naming the id. */
    void embedding(Tensor table, int[] ids, Tensor out);

    /** dtable[ids[i]] += dout[i]. */
    void embeddingBackward(Tensor dout, int[] ids, Tensor dtable);

    /** out ← x / sqrt(mean(x²) + eps) ⊙ weight per row; rstd [rows] ← 1 / sqrt(mean(x²) + eps) (saved). */
    void rmsnorm(Tensor x, Tensor weight, float eps, Tensor out, Tensor rstd);

    /** dx ← ∂L/∂x (written); dweight += ∂L/∂weight. */
    void rmsnormBackward(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor dweight);

    /**
     * The residual add and the RMSNorm after it: sum ← x + y (sum may alias x or y), then {@link #rmsnorm} of
     * sum. A backend may do both in one pass over the rows (CUDA: one launch, the sum read back from the
     * registers that wrote it); the result is the same as the two ops.
     */
    default void addRmsnorm(Tensor x, Tensor y, Tensor weight, float eps, Tensor sum, Tensor out, Tensor rstd) {
        add(x, y, sum);
        rmsnorm(sum, weight, eps, out, rstd);
    }

    /**
     * {@link #rmsnormBackward} with dx ← ∂L/∂x + addend (the gradient the residual stream gets from its
     * other uses, when the norm was fused with the add before it; addend may alias dx, null adds nothing). A
     * backend may add it in the same pass.
     */
    default void rmsnormBackward(Tensor dout, Tensor x, Tensor weight, Tensor rstd, Tensor addend, Tensor dx, Tensor dweight) {
        if (addend == null) {
            rmsnormBackward(dout, x, weight, rstd, dx, dweight);
            return;
        }
        if (addend == dx) {
            try (Tensor d = zeros(dx.dtype(), dx.shape())) {
                rmsnormBackward(dout, x, weight, rstd, d, dweight);
                axpy(1f, d, dx);
            }
            return;
        }
        rmsnormBackward(dout, x, weight, rstd, dx, dweight);
        axpy(1f, addend, dx);
    }

    /**
     * Rotary embedding, Hugging Face Llama convention (rotate_half: dimension i pairs with i + headDim/2),
     * angle (pos)·theta^(−2i/headDim) with pos = posOffset + (row mod seq). x is [batch·seq, heads·headDim];
     * out may alias x. {@code inverse} rotates by the negative angle, which is the backward pass.
     */
    void rope(Tensor x, int seq, int heads, int headDim, float theta, int posOffset, boolean inverse, Tensor out);

    /**
     * Causal softmax attention, scale 1/sqrt(headDim). q is [batch·qLen, heads·headDim]; k, v are
     * [batch·kvLen, heads·headDim] with kvLen ≥ qLen; query i sees keys j ≤ i + (kvLen − qLen) (so a
     * decode step with a KV cache is qLen = 1). out like q; lse [batch, heads, qLen] ← log-sum-exp of the
     * scaled scores of each query (saved for the backward).
     */
    void attention(Tensor q, Tensor k, Tensor v, int batch, int qLen, int kvLen, int heads, int headDim,
                   Tensor out, Tensor lse);

    /**
     * One decode step of several sequences, each with its own cache: row b of q [B, heads·headDim] attends,
     * causally at its newest position, to every row of keys[b] and values[b] ([len_b, heads·headDim], the
     * sequence's cached positions including this one). out like q; lse [B, heads]. Row b's result is
     * {@link #attention} of that row alone with qLen = 1 and kvLen = len_b, bit for bit, whatever else is in
     * the batch. The default runs exactly that, one call per row; a backend may run all rows in one call.
     */
    default void attentionDecode(Tensor q, Tensor[] keys, Tensor[] values, int heads, int headDim, Tensor out, Tensor lse) {
        if (keys.length != values.length || keys.length != q.dim(0))
            throw new IllegalArgumentException("attentionDecode: " + q.dim(0) + " query rows need as many key and value caches, got "
                    + keys.length + " and " + values.length);
        for (int b = 0; b < keys.length; b++)
            attention(q.slice(b, b + 1), keys[b], values[b], 1, 1, keys[b].dim(0), heads, headDim, out.slice(b, b + 1), lse.slice(b, b + 1));
    }

    /** dq, dk, dv ← gradients of {@link #attention} (written, not accumulated). */
    void attentionBackward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
                           int batch, int qLen, int kvLen, int heads, int headDim,
                           Tensor dq, Tensor dk, Tensor dv);

    /**
     * {@link #attention} of q and k rotated by {@link #rope} (positions 0 … seq − 1 in each sequence), over
     * whole sequences (qLen = kvLen = seq); q and k are not changed. The default is exactly rope, rope,
     * attention, through temporaries; a backend may apply the rotation inside its attention instead, within
     * that attention's own error (see {@link #fusesRopeAttention}).
     */
    default void ropeAttention(Tensor q, Tensor k, Tensor v, int batch, int seq, int heads, int headDim, float theta,
                               Tensor out, Tensor lse) {
        try (Tensor qr = empty(q.dtype(), q.shape()); Tensor kr = empty(k.dtype(), k.shape())) {
            rope(q, seq, heads, headDim, theta, 0, false, qr);
            rope(k, seq, heads, headDim, theta, 0, false, kr);
            attention(qr, kr, v, batch, seq, seq, heads, headDim, out, lse);
        }
    }

    /**
     * dq, dk, dv ← gradients of {@link #ropeAttention} (written): dq and dk those of the unrotated q and k.
     * The default rotates q and k again, runs {@link #attentionBackward} and rotates dq and dk back in place.
     */
    default void ropeAttentionBackward(Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
                                       int batch, int seq, int heads, int headDim, float theta,
                                       Tensor dq, Tensor dk, Tensor dv) {
        try (Tensor qr = empty(q.dtype(), q.shape()); Tensor kr = empty(k.dtype(), k.shape())) {
            rope(q, seq, heads, headDim, theta, 0, false, qr);
            rope(k, seq, heads, headDim, theta, 0, false, kr);
            attentionBackward(dout, qr, kr, v, out, lse, batch, seq, seq, heads, headDim, dq, dk, dv);
        }
        rope(dq, seq, heads, headDim, theta, 0, true, dq);
        rope(dk, seq, heads, headDim, theta, 0, true, dk);
    }

    /**
     * Whether {@link #ropeAttention} of this head dimension is cheaper than its default: then the tape
     * takes it (keeping q and k unrotated for the backward), else it records rope and attention as before
     * (keeping the rotated copies, which the default's backward would have to recompute).
     */
    default boolean fusesRopeAttention(int headDim) { return false; }

    /** out ← silu(gate) ⊙ up, silu(g) = g·sigmoid(g). */
    void swiglu(Tensor gate, Tensor up, Tensor out);

    /** dgate, dup ← gradients of {@link #swiglu} (written). */
    void swigluBackward(Tensor dout, Tensor gate, Tensor up, Tensor dgate, Tensor dup);

    /**
     * Mean cross-entropy of logits [n, vocab] against targets (−1 = ignored; others must be in range),
     * over the non-ignored rows. When dlogits is non-null it receives the gradient of
     * (lossScale · mean loss), i.e. lossScale·(softmax − onehot)/count per row, 0 for ignored rows.
     */
    float crossEntropy(Tensor logits, int[] targets, Tensor dlogits, float lossScale);

    /** {@link #crossEntropy} whose loss is read when the supplier is asked (see {@link #sumOfSquaresAllLater}). */
    default java.util.function.DoubleSupplier crossEntropyLater(Tensor logits, int[] targets, Tensor dlogits, float lossScale) {
        float loss = crossEntropy(logits, targets, dlogits, lossScale);
        return () -> loss;
    }

    /**
     * A recorder that replays a repeating training step as one captured graph ({@link StepReplay}), or null
     * where the backend has none (host backends).
     */
    default StepReplay stepReplay() { return null; }

    // ---- optimizer -----------------------------------------------------------------------------------

    /** One AdamW update of param in place, with its moments m and v (same shape), from grad. */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams p);

    /**
     * {@link #adamw} of each (params[i], grads[i], ms[i], vs[i]) with the same settings. A backend may
     * override it to update them all at once (CUDA: one launch instead of one per tensor).
     */
    default void adamwAll(java.util.List<Tensor> params, java.util.List<Tensor> grads, java.util.List<Tensor> ms,
                          java.util.List<Tensor> vs, AdamWParams p) {
        if (grads.size() != params.size() || ms.size() != params.size() || vs.size() != params.size())
            throw new IllegalArgumentException("adamwAll: lists of " + params.size() + ", " + grads.size() + ", " + ms.size() + ", " + vs.size() + " tensors");
        for (int i = 0; i < params.size(); i++) adamw(params.get(i), grads.get(i), ms.get(i), vs.get(i), p);
    }

    /**
     * Bytes of this backend's device memory free for new tensors now (a GPU's free memory plus what its
     * allocator keeps for reuse), or -1 when the backend does not know (host backends: the host's
     * physical memory is the memory plan's business).
     */
    default long memoryAvailable() { return -1; }

    @Override default void close() {}
}
