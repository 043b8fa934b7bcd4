package tern.cuda;

/**
 * Launches the tensor-core causal attention of {@code attention_mma.cu} (sm_80+, bf16 products with f32
 * accumulation): q, k, v (and dout) are first copied to bf16 [batch, heads, len, DP] in scratch (DP the
 * head dimension rounded up to 64 or 128), which the kernels stream through shared memory with cp.async.
 * Arguments are device addresses already checked by {@link CudaBackend}; outputs are in the caller's layout.
 * With {@code bf16} activations every tensor but lse is stored in bf16: where the head dimension is the padded
 * one (64 or 128, every preset) the kernels read q, k, v and dout where they are ("natural" layout: no staging
 * copy, see head_rows in attention_mma.cu), else they are only re-laid out (no rounding); the kernels' _bf16
 * instantiations write bf16 outputs. Otherwise every tensor but lse is f32.
 *
 * <p>With a RoPE table (the device address of {@link RopeTables}'s, else 0) q and k are rotated inside
 * the attention (queries at positions kvLen − qLen …, keys at 0 …), and the backward's dq and dk are the
 * gradients of the unrotated q and k: what rope, attention and the inverse rope of dq and dk compute. Only
 * where the head dimension is the padded one ({@link #fusesRope}); the staging copy rotates f32 inputs.
 * bf16 inputs read in place are rotated as {@link RopeVariant} says: by one prologue launch for q and k into
 * scratch copies (the default; a launch fewer than rope.cu's two, forward and backward, the inverse rotation
 * being done by the gradient kernels' stores), or by the kernels, tile by tile (no launch, but slower).
 */
final class TensorCoreAttention {
    private static final String MODULE = "attention_mma";
    static final KernelTable KERNELS = table();
    private static final int THREADS = 128;      // 4 warps of 16 rows each
    private static final int ROWS = 64;          // rows per block
    private static final int ALIGN = 256;        // scratch carving: cp.async reads 16-byte pieces

    /**
     * Where bf16 q and k read in place are rotated (f32 inputs are rotated by their staging copy either way).
     * Both give the same bits. On the H200 (99M, 16×1024 tokens) TILES made the three attention kernels 3.5 ms
     * a step slower (3.2, 3.6, 5.9 ms against 2.2, 2.4, 4.5: the table loads and an extra barrier sit on each
     * tile's critical path, and a key tile is rotated by every query block that loads it), where rope.cu's 64
     * launches took 0.9 ms; PROLOGUE, the default, costs them 0.2 ms and takes 0.7 ms in 32 launches.
     */
    enum RopeVariant {
        /** In shared memory as each tile lands: no copies, but a key (or query) tile is rotated once per block that loads it. */
        TILES,
        /**
         * By attn_rope_qk_bf16 into scratch copies, once per key, in one launch (the forward, and again in the
         * backward); the backward still un-rotates dq and dk in its stores. Whole sequences only (qLen = kvLen).
         */
        PROLOGUE;

        static final RopeVariant DEFAULT = PROLOGUE;
    }

    private final Kernels kernels;
    private final Scratch scratch;
    private volatile RopeVariant ropeVariant = RopeVariant.DEFAULT;

    TensorCoreAttention(Kernels kernels, Scratch scratch) {
        this.kernels = kernels;
        this.scratch = scratch;
    }

    private static KernelTable table() {
        KernelTable t = KernelTable.of(MODULE).kernel("attn_to_bf16", "p p i i i i p i").kernel("attn_relayout_bf16", "p p i i i i p i")
                .kernel("attn_delta_bf16", "p p p i i i i l").kernel("attn_delta_bf16_out_bf16", "p p p i i i i l i")
                .kernel("attn_rope_qk_bf16", "p p p p p i i i i");
        for (String out : new String[] {"", "_bf16"})
            for (int dp : new int[] {64, 128}) {
                t.kernel("attn_fwd_tc" + dp + out, "p p p p p i i i i f i p i");
                t.kernel("attn_bwd_dq_tc" + dp + out, "p p p p p p p i i i i f i p i");
                t.kernel("attn_bwd_dkdv_tc" + dp + out, "p p p p p p p p i i i i f i p i");
            }
        return t;
    }

    void ropeVariant(RopeVariant v) { ropeVariant = v; }

    static boolean supports(Kernels kernels) {
        return kernels.has(MODULE);
    }

    /** Whether the kernels can apply RoPE for this head dimension: the padded one, so a pair's partner column is in the tile. */
    static boolean fusesRope(int headDim) {
        return headDim == padded(headDim);
    }

    /** The padded head dimension the kernels are compiled for: 64 or 128. */
    private static int padded(int headDim) {
        return headDim <= 64 ? 64 : 128;
    }

    private static long bf16Bytes(int batch, int heads, int len, int dp) {
        long b = 2L * batch * heads * len * dp;
        return (b + ALIGN - 1) / ALIGN * ALIGN;
    }

    /** The staging copy; with a rope table rows are rotated on the way, row t at position pos0 + t. */
    private void toBf16(long src, long dst, int batch, int len, int heads, int headDim, int dp, boolean bf16, long rope, int pos0) {
        long pairs = (long) len * dp / 2;                    // per head
        if (pairs > Integer.MAX_VALUE) throw new IllegalArgumentException("attention: sequence of " + len + " is too long");
        kernels.launch(MODULE, bf16 ? "attn_relayout_bf16" : "attn_to_bf16", (int) ceilDiv(pairs, 256), batch * heads, 1, 256, 0,
                KernelArgs.of().ptr(src).ptr(dst).i32(len).i32(heads).i32(headDim).i32(dp).ptr(rope).i32(pos0));
    }

    /** Dynamic shared memory of each kernel: bf16 tiles of row stride DP + 8 (and the dk/dv kernel's row terms). */
    private static int forwardShared(int dp) { return (ROWS + 4 * 64) * (dp + 8) * 2; }

    private static int dqShared(int dp) { return (2 * ROWS + 4 * 64) * (dp + 8) * 2; }

    private static int dkdvQueries(int dp) { return dp == 64 ? 64 : 32; }

    private static int dkdvShared(int dp) {
        int qt = dkdvQueries(dp);
        return (2 * ROWS + 4 * qt) * (dp + 8) * 2 + 4 * qt * 4;
    }

    /** bf16 activations of a head dimension the kernels are compiled for, 16-byte aligned: read in place. */
    private static boolean natural(boolean bf16, int headDim, long... addresses) {
        if (!bf16 || headDim != padded(headDim)) return false;
        for (long a : addresses) if ((a & 15) != 0) return false;
        return true;
    }

    void forward(long q, long k, long v, long out, long lse, int batch, int qLen, int kvLen, int heads, int headDim, boolean bf16) {
        forward(q, k, v, out, lse, batch, qLen, kvLen, heads, headDim, bf16, 0);
    }

    /** {@link #forward} of q and k rotated by the RoPE table at {@code rope} (0: none); see the class comment. */
    void forward(long q, long k, long v, long out, long lse, int batch, int qLen, int kvLen, int heads, int headDim, boolean bf16,
                 long rope) {
        int dp = padded(headDim);
        requireRopeFits(rope, headDim);
        boolean natural = natural(bf16, headDim, q, k, v);
        long qb = q, kb = k, vb = v;
        boolean rotateLoads = false;
        if (!natural) {
            long qBytes = bf16Bytes(batch, heads, qLen, dp), kvBytes = bf16Bytes(batch, heads, kvLen, dp);
            qb = scratch.reserve(qBytes + 2 * kvBytes);
            kb = qb + qBytes;
            vb = kb + kvBytes;
            toBf16(q, qb, batch, qLen, heads, headDim, dp, bf16, rope, kvLen - qLen);
            toBf16(k, kb, batch, kvLen, heads, headDim, dp, bf16, rope, 0);
            toBf16(v, vb, batch, kvLen, heads, headDim, dp, bf16, 0, 0);
        } else if (rope != 0 && prologue(qLen, kvLen)) {
            long bytes = bf16Bytes(batch, heads, qLen, dp);
            qb = scratch.reserve(2 * bytes);
            kb = qb + bytes;
            rotateQk(q, k, qb, kb, rope, batch, qLen, heads, headDim);
        } else {
            rotateLoads = rope != 0;
        }
        String out16 = bf16 ? "_bf16" : "";
        float scaleLog2 = (float) (1.0 / Math.sqrt(headDim) / Math.log(2));
        kernels.launch(MODULE, "attn_fwd_tc" + dp + out16, ceilDiv(qLen, ROWS), batch * heads, 1, THREADS, forwardShared(dp),
                KernelArgs.of().ptr(qb).ptr(kb).ptr(vb).ptr(out).ptr(lse)
                        .i32(qLen).i32(kvLen).i32(heads).i32(headDim).f32(scaleLog2).i32(natural)
                        .ptr(rotateLoads ? rope : 0).i32(rotateLoads));
    }

    void backward(long dout, long q, long k, long v, long out, long lse, int batch, int qLen, int kvLen, int heads,
                  int headDim, long dq, long dk, long dv, boolean bf16) {
        backward(dout, q, k, v, out, lse, batch, qLen, kvLen, heads, headDim, dq, dk, dv, bf16, 0);
    }

    /** {@link #backward} through the RoPE table at {@code rope} (0: none): q and k unrotated, dq and dk their gradients. */
    void backward(long dout, long q, long k, long v, long out, long lse, int batch, int qLen, int kvLen, int heads,
                  int headDim, long dq, long dk, long dv, boolean bf16, long rope) {
        int dp = padded(headDim);
        requireRopeFits(rope, headDim);
        long rows = (long) batch * heads * qLen;
        boolean natural = natural(bf16, headDim, q, dout, k, v);
        long qb = q, gb = dout, kb = k, vb = v, delta;
        boolean rotateLoads = false;
        if (natural && rope != 0 && prologue(qLen, kvLen)) {
            long bytes = bf16Bytes(batch, heads, qLen, dp);
            qb = scratch.reserve(2 * bytes + 4 * rows);
            kb = qb + bytes;
            delta = kb + bytes;
            rotateQk(q, k, qb, kb, rope, batch, qLen, heads, headDim);
        } else if (natural) {
            delta = scratch.reserve(4 * rows);
            rotateLoads = rope != 0;
        } else {
            long qBytes = bf16Bytes(batch, heads, qLen, dp), kvBytes = bf16Bytes(batch, heads, kvLen, dp);
            qb = scratch.reserve(2 * qBytes + 2 * kvBytes + 4 * rows);
            gb = qb + qBytes;
            kb = gb + qBytes;
            vb = kb + kvBytes;
            delta = vb + kvBytes;
            toBf16(q, qb, batch, qLen, heads, headDim, dp, bf16, rope, kvLen - qLen);
            toBf16(dout, gb, batch, qLen, heads, headDim, dp, bf16, 0, 0);
            toBf16(k, kb, batch, kvLen, heads, headDim, dp, bf16, rope, 0);
            toBf16(v, vb, batch, kvLen, heads, headDim, dp, bf16, 0, 0);
        }
        String out16 = bf16 ? "_bf16" : "";
        KernelArgs deltaArgs = KernelArgs.of().ptr(gb).ptr(out).ptr(delta).i32(qLen).i32(heads).i32(headDim).i32(dp).i64(rows);
        kernels.launch(MODULE, bf16 ? "attn_delta_bf16_out_bf16" : "attn_delta_bf16", (int) ceilDiv(rows, 256 / 32), 256,
                bf16 ? deltaArgs.i32(natural) : deltaArgs);
        float scale = (float) (1.0 / Math.sqrt(headDim));
        kernels.launch(MODULE, "attn_bwd_dq_tc" + dp + out16, ceilDiv(qLen, ROWS), batch * heads, 1, THREADS, dqShared(dp),
                KernelArgs.of().ptr(qb).ptr(kb).ptr(vb).ptr(gb).ptr(lse).ptr(delta).ptr(dq)
                        .i32(qLen).i32(kvLen).i32(heads).i32(headDim).f32(scale).i32(natural).ptr(rope).i32(rotateLoads));
        kernels.launch(MODULE, "attn_bwd_dkdv_tc" + dp + out16, ceilDiv(kvLen, ROWS), batch * heads, 1, THREADS, dkdvShared(dp),
                KernelArgs.of().ptr(qb).ptr(kb).ptr(vb).ptr(gb).ptr(lse).ptr(delta).ptr(dk).ptr(dv)
                        .i32(qLen).i32(kvLen).i32(heads).i32(headDim).f32(scale).i32(natural).ptr(rope).i32(rotateLoads));
    }

    private boolean prologue(int qLen, int kvLen) {
        return ropeVariant == RopeVariant.PROLOGUE && qLen == kvLen;
    }

    /** q and k (bf16, [batch · seq, heads · headDim]) rotated into qr and kr at positions row mod seq: one launch. */
    private void rotateQk(long q, long k, long qr, long kr, long rope, int batch, int seq, int heads, int headDim) {
        long rows = (long) batch * seq;
        long threads = rows * heads * (headDim / 2) / 8;       // eight pairs a thread: headDim / 2 is 32 or 64
        kernels.launch(MODULE, "attn_rope_qk_bf16", kernels.gridFor(threads, 256), 2, 1, 256, 0,
                KernelArgs.of().ptr(q).ptr(k).ptr(qr).ptr(kr).ptr(rope).i32(Math.toIntExact(rows)).i32(seq).i32(heads).i32(headDim));
    }

    /** The kernels pair column d with d + headDim/2 inside one padded tile, and read the table 16 bytes at a time. */
    private static void requireRopeFits(long rope, int headDim) {
        if (rope == 0) return;
        if (!fusesRope(headDim))
            throw new IllegalArgumentException("attention: RoPE inside the attention needs head dimension 64 or 128, not " + headDim);
        if ((rope & 15) != 0) throw new IllegalArgumentException("attention: the RoPE table at " + rope + " is not 16-byte aligned");
    }

    private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }

    private static long ceilDiv(long a, long b) { return (a + b - 1) / b; }
}
