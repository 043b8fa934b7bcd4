package tern.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.WholeStepDecoder;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * One decode step of a packed ternary Llama on the GPU — embedding, every block, final norm and LM head
 * for {@code rows} sequences (1..4), each at its own position with its own KV cache — issued on its own
 * stream and captured once as a {@link CudaGraph}, then replayed for every step: one driver call per token
 * instead of ~14 launches per layer.
 *
 * <p>What makes one graph serve every step: the activations live in buffers allocated here (fixed
 * addresses); the token ids, positions and KV-cache addresses are an input block in device memory, copied
 * from pinned memory before each replay and read by the kernels of decode_step.cu (embedding, RoPE + KV
 * write, attention up to the row's position). By default the products are {@link PackedGemv}'s fused
 * launches — q, k, v in one with RMSNorm staged in, o accumulating into x, gate and up in one with
 * RMSNorm, down with SwiGLU staged in, accumulating into x — and the attention kernel applies RoPE and
 * writes the caches itself: five kernels per layer. Two settings, on by default since an H200 run checked
 * and timed them: programmatic dependent launch on sm_90 (each product requesting its first weights while
 * the kernel before it finishes; {@code -Dtern.cuda.pdl=false} turns it off) and the attention split along
 * the keys over many blocks instead of one block per head ({@code -Dtern.cuda.attentionSplit=false}). {@code -Dtern.cuda.decodeProducts=auto|split|tensor}
 * runs the unfused step instead (twelve kernels per layer: the backend's RMSNorm and SwiGLU launched onto
 * this stream through {@link CudaBackend#launchOn}, and per linear the faster of PackedGemv and the
 * backend's tensor-core GEMV as timed when the step is made, or the one named).
 *
 * <p>When capture is refused the same launches run eagerly on the stream every step, and one line on
 * standard error says why. The logits match the backend's op-by-op decode ({@code LlamaModel.decode})
 * up to f32 summation order (different attention and product kernels); graph and eager runs of this step
 * give the same bits.
 */
public final class CudaGraphDecodeStep implements WholeStepDecoder {
    private static final int THREADS = 256;
    static final String MODULE = "decode_step";
    /** decode_step.cu; dec_copy and dec_random_fill are launched by benchmarks and tests. */
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("dec_embed", "p p i p").kernel("dec_rope_kv", "p p p p p p p i i")
            .kernel("dec_attention", "p p p p i i f p i p p p p p").kernel("dec_attention_whole", "p p p p i i f p i p p p")
            .kernel("dec_head", "p i p i i i p").kernel("dec_to_bf16", "p l p").kernel("dec_copy", "p l p")
            .kernel("dec_random_fill", "p l i i f");

    private final CudaBackend backend;
    private final LlamaConfig shape;
    private final int rows, layers, hidden, ffn, heads, headDim, vocab;
    private final Tensor embedding, finalNorm, lmHead;
    private final Tensor[] inputNorms, postNorms;
    private final TernaryWeights[][] weights;       // [layer][q, k, v, o, gate, up, down]
    private final boolean fused;                    // PackedGemv with q/k/v and gate/up fused, RMSNorm, SwiGLU and RoPE folded in
    private final boolean[] splitK;                 // unfused, per linear j: PackedGemv (true) or the backend's GEMV
    private final CudaGraphStream stream;
    private final PackedGemv gemv;
    private final List<Tensor> owned = new ArrayList<>();
    private final Tensor x, h, q, k, v, att, gate, up, mlp, rstd, logits, ropeTable;
    private final DevicePointer inputs, headBf16;   // the per-step input block; the LM head as bf16 (or null)
    private final DevicePointer attentionPartial, attentionTickets;   // dec_attention's split results and tickets
    private final int attentionSplits;              // key blocks of 32 covering the context
    private final boolean splitAttention;           // dec_attention (split along the keys) or dec_attention_whole
    private final boolean programmatic;             // programmatic dependent launch of the products and attention
    private final long inputBytes, logitsOffset;
    private final CudaGraph graph;                  // null: eager launches
    private final String mode;

    /**
     * Why {@code model} (with these prepared weights) cannot be decoded by this step, or null when it can.
     */
    public static String unsupported(LlamaModel model, TernaryWeights[][] packed, int rows) {
        if (!(model.backend() instanceof CudaBackend cuda)) return "the backend is not CUDA";
        if (rows < 1 || rows > PackedGemv.MAX_ROWS) return "batches of 1.." + PackedGemv.MAX_ROWS + " rows only, not " + rows;
        if (cuda.arch() < 80) return "needs sm_80 or later (tensor-core GEMV), the device is sm_" + cuda.arch();
        if (packed == null) return "the block linears are not packed ternary weights";
        LlamaConfig c = model.config();
        if (c.precision().activationBits() != 0 || c.precision().kvBits() != 0) return "activation or KV fake quantization is on";
        if (c.headDim() > 128) return "head dimension " + c.headDim() + " > 128";
        if (c.hidden() % 8 != 0) return "hidden size " + c.hidden() + " is not a multiple of 8";
        if (model.floatWeight("lm_head.weight").dtype() != DType.F32) return "the LM head is not f32";
        return null;
    }

    /**
     * What {@link tern.model.Generator} loads by name ({@link WholeStepDecoder#load}): a one-row step, or null
     * (with one line on standard error for a served model) when this model cannot be decoded so.
     */
    public static WholeStepDecoder open(LlamaModel model, TernaryWeights[][] packed, boolean capture) {
        String why = unsupported(model, packed, 1);
        if (why != null) {
            if (model.served()) System.err.println("tern: decoding op by op, not as a CUDA graph: " + why);
            return null;
        }
        return new CudaGraphDecodeStep(model, packed, 1, capture);
    }

    /**
     * A step for {@code rows} sequences over {@code model}'s float weights and {@code packed} block weights
     * (PreparedWeights.packed(): held, not owned). Captures the graph unless {@code useGraph} is false.
     */
    public CudaGraphDecodeStep(LlamaModel model, TernaryWeights[][] packed, int rows, boolean useGraph) {
        String why = unsupported(model, packed, rows);
        if (why != null) throw new IllegalArgumentException("CUDA graph decode step: " + why);
        this.backend = (CudaBackend) model.backend();
        this.shape = model.config();
        this.rows = rows;
        this.layers = shape.layers();
        this.hidden = shape.hidden();
        this.ffn = shape.intermediate();
        this.heads = shape.heads();
        this.headDim = shape.headDim();
        this.vocab = shape.vocabSize();
        this.weights = packed;
        embedding = model.floatWeight("model.embed_tokens.weight");
        finalNorm = model.floatWeight("model.norm.weight");
        lmHead = model.floatWeight("lm_head.weight");
        inputNorms = new Tensor[layers];
        postNorms = new Tensor[layers];
        for (int i = 0; i < layers; i++) {
            inputNorms[i] = model.floatWeight("model.layers." + i + ".input_layernorm.weight");
            postNorms[i] = model.floatWeight("model.layers." + i + ".post_attention_layernorm.weight");
        }
        CudaContext context = backend.context();
        x = buffer(rows, hidden);
        h = buffer(rows, hidden);
        q = buffer(rows, hidden);
        k = buffer(rows, hidden);
        v = buffer(rows, hidden);
        att = buffer(rows, hidden);
        gate = buffer(rows, ffn);
        up = buffer(rows, ffn);
        mlp = buffer(rows, ffn);
        rstd = buffer(rows);
        logits = buffer(rows, vocab);
        // A copy of the RoPE table: the backend's may be regrown (and the old one freed) by later ops.
        Tensor table = backend.ropeTable(headDim, shape.ropeTheta(), shape.contextLength());
        ropeTable = buffer(Math.toIntExact(table.size()));
        backend.copy(table, ropeTable);
        inputBytes = 8L * rows + 16L * layers * rows;
        inputs = context.allocate(inputBytes);
        context.zero(inputs, inputBytes);
        logitsOffset = (inputBytes + 15) / 16 * 16;
        stream = new CudaGraphStream(context, logitsOffset + 4L * rows * vocab);
        attentionSplits = (shape.contextLength() + 31) / 32;
        // Default since the H200 run of 2 Dec (graph-decode.sh): the 3.9B step's GPU time 2339 -> 2157 us alone,
        // 2063 us with PDL; -Dtern.cuda.attentionSplit=false gives one block per head back.
        splitAttention = Boolean.parseBoolean(System.getProperty("tern.cuda.attentionSplit", "true"));
        attentionPartial = context.allocate(4L * rows * heads * attentionSplits * (128 + 2));
        attentionTickets = context.allocate(4L * rows * heads);
        context.zero(attentionTickets, 4L * rows * heads);
        gemv = PackedGemv.supported(backend) ? new PackedGemv(backend) : null;
        if ("bf16".equals(backend.compute())) {
            // The backend's own head product takes bf16 inputs on this setting (cuBLAS bf16); this step keeps x
            // in f32 and streams the weights as bf16: half the bytes of the largest single read of a step.
            long n = lmHead.size();
            headBf16 = context.allocate(2 * n);
            backend.kernels().launch(MODULE, "dec_to_bf16", backend.kernels().gridFor(n, THREADS), THREADS,
                    KernelArgs.of().ptr(CudaBackend.addressOf(lmHead)).i64(n).ptr(headBf16.address()));
        } else {
            headBf16 = null;
        }
        String products = System.getProperty("tern.cuda.decodeProducts", "fused");
        if (!List.of("fused", "auto", "split", "tensor").contains(products))
            throw new IllegalArgumentException("-Dtern.cuda.decodeProducts=" + products + ": expected fused, auto, split or tensor");
        fused = gemv != null && products.equals("fused");
        splitK = fused ? new boolean[7] : chooseProducts(products);
        // Default on sm_90 since the same run (no bit changed; -Dtern.cuda.pdl=false turns it off).
        boolean pdl = fused && backend.arch() >= 90 && DriverLaunch.hasProgrammaticLaunch()
                && Boolean.parseBoolean(System.getProperty("tern.cuda.pdl", "true"));
        if (fused) {
            gemv.reserve(hidden, hidden, rows, 3);
            gemv.reserve(ffn, hidden, rows, 2);
            gemv.reserve(hidden, ffn, rows, 1);
            gemv.programmatic(pdl);
            try {
                warmFused();
            } catch (RuntimeException e) {
                if (!pdl) throw e;
                System.err.println("tern: programmatic dependent launch failed (" + e.getMessage() + "); the decode step launches without it");
                pdl = false;
                gemv.programmatic(false);
                warmFused();
            }
        }
        programmatic = pdl;
        CudaGraph g = null;
        String m;
        if (useGraph) {
            try {
                g = CudaGraph.capture(stream, this::issue);
                m = "CUDA graph of " + g.nodes() + " nodes";
            } catch (CudaGraphException | IllegalStateException e) {
                System.err.println("tern: the decode step could not be captured as a CUDA graph (" + e.getMessage()
                        + "); decoding with eager launches on its stream");
                m = "eager launches (capture failed)";
            }
        } else {
            m = "eager launches";
        }
        graph = g;
        mode = m;
    }

    private Tensor buffer(int... dims) {
        Tensor t = backend.zeros(DType.F32, dims);
        owned.add(t);
        return t;
    }

    public int rows() { return rows; }

    /**
     * Benchmarks: µs per step of the GPU work alone — {@code n} replays (or eager issues) back to back on the
     * inputs of the last {@link #step}, then one wait — beside what a whole step costs with its copies and waits.
     */
    public double gpuMicrosPerStep(int n) {
        backend.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            if (graph != null) graph.launch();
            else issue();
        }
        stream.synchronize();
        return (System.nanoTime() - t0) / 1e3 / n;
    }

    /** True when steps replay a captured graph (false: eager launches). */
    public boolean captured() { return graph != null; }

    /** How steps run and which product kernels were picked, for logs and benchmarks. */
    @Override
    public String describe() {
        if (fused)
            return mode + "; products: split-K, q/k/v and gate/up fused, RMSNorm and SwiGLU staged in, RoPE in attention"
                    + (programmatic ? ", programmatic dependent launch" : "")
                    + (splitAttention ? "; attention split along the keys" : "")
                    + (headBf16 != null ? "; LM head bf16" : "; LM head f32");
        StringBuilder s = new StringBuilder(mode).append("; products:");
        String[] names = {"q", "k", "v", "o", "gate", "up", "down"};
        for (int j = 0; j < 7; j++) s.append(' ').append(names[j]).append('=').append(splitK[j] ? "split-K" : "tensor-core");
        return s.append(headBf16 != null ? "; LM head bf16" : "; LM head f32").toString();
    }

    /**
     * Runs one step: row b decodes {@code tokens[b]} at {@code positions[b]}, reading and writing its KV
     * caches {@code keys[b][layer]}, {@code values[b][layer]} ([capacity, hidden] f32 device tensors, KvCache's
     * layout) up to that position. Returns the logits, rows × vocab, row-major. Waits for the backend's
     * default stream first (the caches may have been written there, e.g. by a prefill).
     */
    @Override
    public float[] step(int[] tokens, int[] positions, Tensor[][] keys, Tensor[][] values) {
        if (tokens.length != rows || positions.length != rows || keys.length != rows || values.length != rows)
            throw new IllegalArgumentException("a step of " + rows + " rows got " + tokens.length + " tokens, " + positions.length
                    + " positions and " + keys.length + "/" + values.length + " caches");
        MemorySegment host = stream.host();
        for (int b = 0; b < rows; b++) {
            if (tokens[b] < 0 || tokens[b] >= vocab)
                throw new IllegalArgumentException("token " + tokens[b] + " of row " + b + " is outside the vocabulary [0, " + vocab + ")");
            if (positions[b] < 0 || positions[b] >= shape.contextLength())
                throw new IllegalArgumentException("position " + positions[b] + " of row " + b + " is outside the context [0, " + shape.contextLength() + ")");
            if (keys[b].length != layers || values[b].length != layers)
                throw new IllegalArgumentException("row " + b + " has caches for " + keys[b].length + "/" + values[b].length + " layers, not " + layers);
            host.set(ValueLayout.JAVA_INT, 4L * b, tokens[b]);
            host.set(ValueLayout.JAVA_INT, 4L * (rows + b), positions[b]);
            for (int l = 0; l < layers; l++) {
                host.set(ValueLayout.JAVA_LONG, 8L * rows + 8L * (l * rows + b), cacheAddress(keys[b][l], positions[b], "keys", b, l));
                host.set(ValueLayout.JAVA_LONG, 8L * rows + 8L * ((layers + l) * rows + b), cacheAddress(values[b][l], positions[b], "values", b, l));
            }
        }
        backend.synchronize();
        stream.toDevice(inputs.address(), 0, inputBytes);
        if (graph != null) graph.launch();
        else issue();
        stream.toHost(CudaBackend.addressOf(logits), logitsOffset, 4L * rows * vocab);
        stream.synchronize();
        float[] out = new float[rows * vocab];
        MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, logitsOffset, out, 0, out.length);
        return out;
    }

    private long cacheAddress(Tensor cache, int position, String what, int row, int layer) {
        if (cache.device() != Device.CUDA || cache.dtype() != DType.F32 || cache.rank() != 2 || cache.cols() != hidden || position >= cache.rows())
            throw new IllegalArgumentException("row " + row + " layer " + layer + ": " + what + " cache " + cache.describe()
                    + " is not a CUDA f32 [> " + position + ", " + hidden + "] tensor");
        return CudaBackend.addressOf(cache);
    }

    /** Issues the whole step onto the stream (recorded by a capture, or run eagerly). */
    private void issue() {
        backend.launchOn(stream.handle(), () -> {
            Kernels kn = backend.kernels();
            long in = inputs.address();
            long tokensAt = in, positionsAt = in + 4L * rows, keysAt = in + 8L * rows, valuesAt = keysAt + 8L * layers * rows;
            float eps = shape.rmsEps();
            kn.launch(MODULE, "dec_embed", rows, 1, 1, THREADS, 0,
                    KernelArgs.of().ptr(CudaBackend.addressOf(embedding)).ptr(tokensAt).i32(hidden).ptr(CudaBackend.addressOf(x)));
            for (int l = 0; l < layers; l++) {
                TernaryWeights[] w = weights[l];
                long keysL = keysAt + 8L * l * rows, valuesL = valuesAt + 8L * l * rows;
                if (fused) {
                    fusedProduct(0, l, eps);
                    attention(keysL, valuesL, positionsAt, true);
                    fusedProduct(1, l, eps);                        // x += o(att)
                    fusedProduct(2, l, eps);
                    fusedProduct(3, l, eps);                        // x += down(silu(gate) up)
                    continue;
                }
                backend.rmsnorm(x, inputNorms[l], eps, h, rstd);
                product(0, h, w[0], q, false);
                product(1, h, w[1], k, false);
                product(2, h, w[2], v, false);
                kn.launch(MODULE, "dec_rope_kv", rows, 1, 1, THREADS, 0,
                        KernelArgs.of().ptr(CudaBackend.addressOf(q)).ptr(CudaBackend.addressOf(k)).ptr(CudaBackend.addressOf(v))
                                .ptr(CudaBackend.addressOf(ropeTable)).ptr(positionsAt).ptr(keysL).ptr(valuesL).i32(heads).i32(headDim));
                attention(keysL, valuesL, positionsAt, false);
                product(3, att, w[3], x, true);                 // x += o(att)
                backend.rmsnorm(x, postNorms[l], eps, h, rstd);
                product(4, h, w[4], gate, false);
                product(5, h, w[5], up, false);
                backend.swiglu(gate, up, mlp);
                product(6, mlp, w[6], x, true);                 // x += down(mlp)
            }
            backend.rmsnorm(x, finalNorm, eps, h, rstd);
            int warps = THREADS / 32;
            kn.launch(MODULE, "dec_head", (vocab + warps - 1) / warps, 1, 1, THREADS, 0,
                    KernelArgs.of().ptr(headBf16 != null ? headBf16.address() : CudaBackend.addressOf(lmHead)).i32(headBf16 != null)
                            .ptr(CudaBackend.addressOf(h)).i32(rows).i32(vocab).i32(hidden).ptr(CudaBackend.addressOf(logits)));
        });
    }

    /** Fused product {@code which} of layer l: 0 q/k/v from RMSNorm(x), 1 x += o(att), 2 gate/up from RMSNorm(x), 3 x += down(silu(gate) up). */
    private void fusedProduct(int which, int l, float eps) {
        TernaryWeights[] w = weights[l];
        switch (which) {
            case 0 -> gemv.multiply(x, new TernaryWeights[] {w[0], w[1], w[2]}, new Tensor[] {q, k, v}, false,
                    PackedGemv.Input.rmsnorm(inputNorms[l], eps));
            case 1 -> gemv.multiply(att, w[3], x, true);
            case 2 -> gemv.multiply(x, new TernaryWeights[] {w[4], w[5]}, new Tensor[] {gate, up}, false,
                    PackedGemv.Input.rmsnorm(postNorms[l], eps));
            default -> gemv.multiply(gate, new TernaryWeights[] {w[6]}, new Tensor[] {x}, true, PackedGemv.Input.swiglu(up));
        }
    }

    /** dec_attention of every head and row into att; with {@code rope}, it also rotates q, k and writes the caches. */
    private void attention(long keysL, long valuesL, long positionsAt, boolean rope) {
        if (!splitAttention) {
            backend.kernels().launch(MODULE, "dec_attention_whole", heads, rows, 1, 16 * 32, 0, gemv != null && gemv.programmatic(),
                    KernelArgs.of().ptr(CudaBackend.addressOf(q)).ptr(keysL).ptr(valuesL).ptr(positionsAt).i32(heads).i32(headDim)
                            .f32((float) (1.0 / Math.sqrt(headDim))).ptr(CudaBackend.addressOf(att))
                            .i32(rope).ptr(CudaBackend.addressOf(k)).ptr(CudaBackend.addressOf(v)).ptr(CudaBackend.addressOf(ropeTable)));
            return;
        }
        backend.kernels().launch(MODULE, "dec_attention", heads, rows, attentionSplits, 8 * 32, 0, gemv != null && gemv.programmatic(),
                KernelArgs.of().ptr(CudaBackend.addressOf(q)).ptr(keysL).ptr(valuesL).ptr(positionsAt).i32(heads).i32(headDim)
                        .f32((float) (1.0 / Math.sqrt(headDim))).ptr(CudaBackend.addressOf(att))
                        .i32(rope).ptr(CudaBackend.addressOf(k)).ptr(CudaBackend.addressOf(v)).ptr(CudaBackend.addressOf(ropeTable))
                        .ptr(attentionPartial.address()).ptr(attentionTickets.address()));
    }

    /**
     * The fused products once eagerly: functions resolved and shared-memory limits raised outside a capture.
     * With programmatic launch on, the attention too, so a driver that refuses it fails here (and it is turned
     * off): at position 0, every row's caches pointed at a scratch row.
     */
    private void warmFused() {
        TernaryWeights[] w = weights[0];
        boolean attentionToo = gemv.programmatic();
        Tensor scratchCache = attentionToo ? backend.zeros(DType.F32, 1, hidden) : null;
        if (attentionToo) {
            MemorySegment host = stream.host();
            for (int b = 0; b < rows; b++) {
                host.set(ValueLayout.JAVA_INT, 4L * b, 0);
                host.set(ValueLayout.JAVA_INT, 4L * (rows + b), 0);
            }
            for (int i = 0; i < 2 * layers * rows; i++) host.set(ValueLayout.JAVA_LONG, 8L * rows + 8L * i, CudaBackend.addressOf(scratchCache));
            stream.toDevice(inputs.address(), 0, inputBytes);
        }
        long positionsAt = inputs.address() + 4L * rows, keysAt = inputs.address() + 8L * rows;
        backend.launchOn(stream.handle(), () -> {
            if (attentionToo) attention(keysAt, keysAt + 8L * layers * rows, positionsAt, true);
            gemv.multiply(h, new TernaryWeights[] {w[0], w[1], w[2]}, new Tensor[] {q, k, v}, false, PackedGemv.Input.rmsnorm(inputNorms[0], shape.rmsEps()));
            gemv.multiply(h, new TernaryWeights[] {w[4], w[5]}, new Tensor[] {gate, up}, false, PackedGemv.Input.rmsnorm(postNorms[0], shape.rmsEps()));
            gemv.multiply(gate, new TernaryWeights[] {w[6]}, new Tensor[] {q}, false, PackedGemv.Input.swiglu(up));
            gemv.multiply(att, w[3], q, false);
        });
        stream.synchronize();
        if (scratchCache != null) scratchCache.close();
    }

    private void product(int linear, Tensor in, TernaryWeights w, Tensor out, boolean accumulate) {
        if (splitK[linear]) gemv.multiply(in, w, out, accumulate);
        else backend.ternaryMatmul(in, w, out, accumulate);
    }

    /**
     * For each of the seven linears, the faster of PackedGemv and the backend's tensor-core GEMV at this
     * shape and row count, timed on this stream as a small graph of repeated products (so launch overhead
     * does not hide the kernels' difference). Without PackedGemv (below sm_80) the backend's throughout.
     */
    private boolean[] chooseProducts(String products) {
        boolean[] pick = new boolean[7];
        if (gemv == null || products.equals("tensor")) return pick;
        if (products.equals("split")) {
            java.util.Arrays.fill(pick, true);
            reserveProducts();
            return pick;
        }
        reserveProducts();
        Tensor[] ins = {h, h, h, att, h, h, mlp}, outs = {q, k, v, x, gate, up, x};
        // Each product once eagerly first: functions resolved and shared-memory limits raised outside a capture.
        backend.launchOn(stream.handle(), () -> {
            for (int j = 0; j < 7; j++) {
                gemv.multiply(ins[j], weights[0][j], scratchOut(outs[j]), false);
                backend.ternaryMatmul(ins[j], weights[0][j], scratchOut(outs[j]), false);
            }
        });
        stream.synchronize();
        for (int j = 0; j < 7; j++) {
            int jj = j;
            double split = time(() -> gemv.multiply(ins[jj], weights[0][jj], scratchOut(outs[jj]), false));
            double tensor = time(() -> backend.ternaryMatmul(ins[jj], weights[0][jj], scratchOut(outs[jj]), false));
            pick[j] = split < tensor;
        }
        return pick;
    }

    /** Timing writes into a scratch-like buffer of the output's shape (x must keep its values: it is the residual). */
    private Tensor scratchOut(Tensor out) { return out == x ? q : out; }

    private void reserveProducts() {
        for (int j = 0; j < 7; j++) gemv.reserve(weights[0][j].rows(), weights[0][j].cols(), rows, 1);
    }

    private double time(Runnable product) {
        try {
            return CudaGraph.nanosPerRun(backend, stream, 20, 3, product);
        } catch (RuntimeException e) {
            return Double.POSITIVE_INFINITY;                   // a product that cannot run here is never picked
        }
    }

    @Override
    public void close() {
        if (graph != null) graph.close();
        stream.close();
        if (gemv != null) gemv.close();
        CudaContext context = backend.context();
        context.free(inputs);
        if (headBf16 != null) context.free(headBf16);
        context.free(attentionPartial);
        context.free(attentionTickets);
        for (Tensor t : owned) t.close();
    }

    @Override public String toString() {
        return String.format(Locale.ROOT, "CudaGraphDecodeStep[%d rows, %d layers, %s]", rows, layers, describe());
    }
}
