package tern.model;

import tern.checkpoint.CheckpointException;
import tern.checkpoint.Json;
import tern.checkpoint.PackedFile;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * A TriLM served from a packed file ({@link PackedModelWriter}): the file is memory-mapped and its codes
 * are multiplied in place ({@link PackedMatmul}); nothing but the norms is copied at load. The forward
 * pass is {@link LlamaModel#decode}'s, layer for layer: RMSNorm, q/k/v (packed ternary), RoPE, attention
 * over a {@link KvCache}, o, residual, RMSNorm, SwiGLU (gate, up, down packed), residual; final norm and
 * the float LM head on the last position only. Not thread-safe: one generation at a time.
 */
public final class InferenceModel implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final String[] LINEARS = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

    private record Layer(Tensor inputNorm, Tensor postNorm, PackedTernary[] linears) {}

    private final PackedFile file;
    private final LlamaConfig config;
    private final CpuBackend backend = new CpuBackend();
    private final MemorySegment embedding, lmHead;
    private final PackedFloatMatvec.Format embeddingFormat, headFormat;
    private final List<Layer> layers = new ArrayList<>();
    private final Tensor finalNorm;
    private final String tokenizerJson;
    private PackedMatmul.Activations activations = PackedMatmul.Activations.FLOAT;
    private KvCache cache;

    private InferenceModel(PackedFile file) {
        this.file = file;
        Path path = file.file();
        try {
            config = HfConfig.read(Json.write(file.config()), path + " (config)");
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(path, e.getMessage());
        }
        if (!(config.precision().weights() instanceof LinearPolicy.Ternary(int shards)))
            throw new CheckpointException(path, "config precision is " + config.precision().weights().label() + ", a packed model is ternary");
        int h = config.hidden(), ffn = config.intermediate(), vocab = config.vocabSize();
        Set<String> expected = new HashSet<>();
        embeddingFormat = floatFormat("model.embed_tokens.weight", vocab, h, expected);
        embedding = file.bytes("model.embed_tokens.weight");
        for (int i = 0; i < config.layers(); i++) {
            String p = "model.layers." + i + ".";
            PackedTernary[] lin = new PackedTernary[7];
            for (int j = 0; j < 7; j++) {
                boolean mlp = j >= 4;
                int out = j == 6 ? h : mlp ? ffn : h, in = j == 6 ? ffn : h;
                // o and down are row-parallel in Megatron/GPT-NeoX: their shards cut the columns.
                ShardAxis axis = j == 3 || j == 6 ? ShardAxis.COLS : ShardAxis.ROWS;
                lin[j] = ternary(p + LINEARS[j] + ".weight", out, in, shards, axis, expected);
            }
            layers.add(new Layer(norm(p + "input_layernorm.weight", h, expected), norm(p + "post_attention_layernorm.weight", h, expected), lin));
        }
        finalNorm = norm("model.norm.weight", h, expected);
        headFormat = floatFormat("lm_head.weight", vocab, h, expected);
        lmHead = file.bytes("lm_head.weight");
        String tok = null;
        if (file.entries().containsKey(PackedModelWriter.TOKENIZER)) {
            expected.add(PackedModelWriter.TOKENIZER);
            tok = tern.checkpoint.PackedFileWriter.text(file.bytes(PackedModelWriter.TOKENIZER));
        }
        tokenizerJson = tok;
        for (String name : file.entries().keySet())
            if (!expected.contains(name)) throw new CheckpointException(path, "tensor '" + name + "' is not part of a " + config.layers() + "-layer Llama");
    }

    /** Maps, validates (sizes, offsets, checksums, shapes against the config) and opens a packed model. */
    public static InferenceModel load(Path path) {
        PackedFile f = PackedFile.open(path);
        try {
            return new InferenceModel(f);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private PackedFile.Entry entry(String name, String what, Set<String> expected, long... shape) {
        PackedFile.Entry e = file.entry(name);
        expected.add(name);
        if (!java.util.Arrays.equals(e.shape(), shape))
            throw new CheckpointException(file.file(), "tensor '" + name + "' has shape " + java.util.Arrays.toString(e.shape())
                    + ", the config needs " + java.util.Arrays.toString(shape) + " (" + what + ")");
        return e;
    }

    private PackedFloatMatvec.Format floatFormat(String name, int rows, int cols, Set<String> expected) {
        PackedFile.Entry e = entry(name, "vocabulary × hidden", expected, rows, cols);
        PackedFloatMatvec.Format f = switch (e.dtype()) {
            case PackedModelWriter.F32 -> PackedFloatMatvec.Format.F32;
            case PackedModelWriter.F16 -> PackedFloatMatvec.Format.F16;
            default -> throw new CheckpointException(file.file(), "tensor '" + name + "' has dtype " + e.dtype() + ", expected f32 or f16");
        };
        checkBytes(e, (long) rows * cols * f.bytes);
        return f;
    }

    private Tensor norm(String name, int n, Set<String> expected) {
        PackedFile.Entry e = entry(name, "hidden", expected, n);
        if (!e.dtype().equals(PackedModelWriter.F32))
            throw new CheckpointException(file.file(), "tensor '" + name + "' has dtype " + e.dtype() + ", norms are f32");
        checkBytes(e, 4L * n);
        MemorySegment src = file.bytes(name);
        Tensor t = Tensor.zeros(DType.F32, n);
        for (int i = 0; i < n; i++) t.set(i, src.get(F32, 4L * i));
        return t;
    }

    private PackedTernary ternary(String name, int rows, int cols, int shards, ShardAxis axis, Set<String> expected) {
        PackedFile.Entry e = entry(name, "out × in", expected, rows, cols);
        if (!e.dtype().equals(PackedModelWriter.TERNARY))
            throw new CheckpointException(file.file(), "tensor '" + name + "' has dtype " + e.dtype() + ", block linears are "
                    + PackedModelWriter.TERNARY + " (packed ternary)");
        if (!(e.attributes().get("scales") instanceof List<?> list) || list.size() != shards)
            throw new CheckpointException(file.file(), "tensor '" + name + "' needs " + shards + " scale(s) (one per model-parallel shard), has "
                    + e.attributes().get("scales"));
        String axisName = axis == ShardAxis.ROWS ? "rows" : "cols";
        if (!axisName.equals(e.attributes().get("shard_axis")))
            throw new CheckpointException(file.file(), "tensor '" + name + "' is sharded along " + e.attributes().get("shard_axis") + ", expected " + axisName);
        float[] scales = new float[shards];
        for (int s = 0; s < shards; s++) {
            if (!(list.get(s) instanceof Number v) || !Double.isFinite(v.doubleValue()) || v.doubleValue() <= 0)
                throw new CheckpointException(file.file(), "tensor '" + name + "' scale " + s + " = " + list.get(s) + " is not a positive number");
            scales[s] = v.floatValue();
        }
        checkBytes(e, PackedTernary.bytes(rows, cols, shards, axis));
        return PackedTernary.of(file.bytes(name), rows, cols, scales, axis);
    }

    private void checkBytes(PackedFile.Entry e, long need) {
        if (e.bytes() != need)
            throw new CheckpointException(file.file(), "tensor '" + e.name() + "' holds " + e.bytes() + " bytes, its shape and dtype need " + need);
    }

    // ---- accessors -----------------------------------------------------------------------------------------

    public LlamaConfig config() { return config; }

    public Path file() { return file.file(); }

    /** The tokenizer's JSON stored in the file, or null when it was packed without one. */
    public String tokenizerJson() { return tokenizerJson; }

    /** Float activations (the model as trained, the default) or int8 absmax activations (BitNet-style). */
    public void setActivations(PackedMatmul.Activations a) { this.activations = a; }

    public PackedMatmul.Activations activations() { return activations; }

    /** Bytes read per decoded token: every packed code, the LM head, one embedding row (norms aside). */
    public long bytesPerToken() {
        long n = lmHead.byteSize() + (long) config.hidden() * embeddingFormat.bytes;
        for (Layer l : layers) for (PackedTernary t : l.linears()) n += t.codes().byteSize();
        return n;
    }

    // ---- generation ----------------------------------------------------------------------------------------

    /**
     * Greedy or sampled continuation of {@code prompt} with a KV cache (the prompt runs once, then one
     * position per token); each token goes to {@code onToken} as soon as it is chosen. Stops after
     * {@link SamplingOptions#stopToken()}.
     */
    public int[] generate(int[] prompt, int maxNew, SamplingOptions options, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty: generation needs at least one token");
        if (maxNew < 0) throw new IllegalArgumentException("maxNew must be ≥ 0, got " + maxNew);
        if (prompt.length + maxNew > config.contextLength())
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens + " + maxNew
                    + " new tokens exceeds the context length " + config.contextLength());
        // The cache holds what this call needs (not the whole context: 400 MB for a Spectra 390M), grown on demand.
        int need = prompt.length + maxNew;
        if (cache == null || cache.capacity() < need) {
            if (cache != null) cache.close();
            cache = new KvCache(backend, config, Math.max(1, need));
        }
        cache.reset();
        Sampler sampler = new Sampler(options);
        int[] out = new int[maxNew];
        int produced = 0;
        int[] input = prompt;
        while (produced < maxNew) {
            int token = sampler.next(logits(input));
            out[produced++] = token;
            if (onToken != null) onToken.accept(token);
            if (token == options.stopToken()) break;
            input = new int[] {token};
        }
        return produced == maxNew ? out : java.util.Arrays.copyOf(out, produced);
    }

    /** Runs tokens at the next cache positions; the logits of the last one. */
    float[] logits(int[] tokens) {
        int n = tokens.length, pos = cache.length(), h = config.hidden(), ffn = config.intermediate();
        int heads = config.heads(), hd = config.headDim();
        if (pos + n > cache.capacity())
            throw new IllegalArgumentException(pos + " cached + " + n + " new positions exceed the context " + cache.capacity());
        float[] xa = new float[n * h];
        for (int i = 0; i < n; i++) {
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new IllegalArgumentException("token id " + tokens[i] + " at position " + i + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            PackedFloatMatvec.row(embedding, embeddingFormat, h, tokens[i], xa, i * h);
        }
        try (Tensor x = Tensor.of(xa, n, h); Tensor normed = Tensor.zeros(DType.F32, n, h); Tensor rstd = Tensor.zeros(DType.F32, n);
             Tensor q = Tensor.zeros(DType.F32, n, h); Tensor k = Tensor.zeros(DType.F32, n, h); Tensor v = Tensor.zeros(DType.F32, n, h);
             Tensor att = Tensor.zeros(DType.F32, n, h); Tensor lse = Tensor.zeros(DType.F32, 1, heads, n);
             Tensor g = Tensor.zeros(DType.F32, n, ffn); Tensor u = Tensor.zeros(DType.F32, n, ffn); Tensor mid = Tensor.zeros(DType.F32, n, ffn)) {
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                PackedTernary[] w = l.linears();
                backend.rmsnorm(x, l.inputNorm(), config.rmsEps(), normed, rstd);
                linears(normed, new PackedTernary[] {w[0], w[1], w[2]}, q, k, v);
                backend.rope(q, n, heads, hd, config.ropeTheta(), pos, false, q);
                backend.rope(k, n, heads, hd, config.ropeTheta(), pos, false, k);
                backend.copy(k, cache.keys(i, pos, pos + n));
                backend.copy(v, cache.values(i, pos, pos + n));
                backend.attention(q, cache.keys(i, 0, pos + n), cache.values(i, 0, pos + n), 1, n, pos + n, heads, hd, att, lse);
                linears(att, new PackedTernary[] {w[3]}, q);          // q's buffer now holds the o projection
                backend.add(x, q, x);
                backend.rmsnorm(x, l.postNorm(), config.rmsEps(), normed, rstd);
                linears(normed, new PackedTernary[] {w[4], w[5]}, g, u);
                backend.swiglu(g, u, mid);
                linears(mid, new PackedTernary[] {w[6]}, q);
                backend.add(x, q, x);
            }
            cache.advance(n);
            try (Tensor last = Tensor.zeros(DType.F32, 1, h); Tensor lastRstd = Tensor.zeros(DType.F32, 1)) {
                backend.rmsnorm(x.slice(n - 1, n), finalNorm, config.rmsEps(), last, lastRstd);
                float[] logits = new float[config.vocabSize()];
                PackedFloatMatvec.matvec(lmHead, headFormat, config.vocabSize(), h, last.toFloatArray(), logits);
                return logits;
            }
        }
    }

    /**
     * outputs[i] [n, ws[i].rows] ← input [n, cols] · (γT_i)ᵀ through the packed kernel: matrices reading
     * the same input (q, k, v; gate, up) share one table build and one parallel loop.
     */
    private void linears(Tensor input, PackedTernary[] ws, Tensor... outputs) {
        int n = input.rows();
        float[] xs = input.toFloatArray();
        float[][] ys = new float[ws.length][];
        for (int i = 0; i < ws.length; i++) ys[i] = new float[n * ws[i].rows()];
        PackedMatmul.matmul(ws, xs, n, ys, activations);
        for (int i = 0; i < ws.length; i++) MemorySegment.copy(ys[i], 0, outputs[i].segment(), ValueLayout.JAVA_FLOAT, 0, ys[i].length);
    }

    @Override
    public void close() {
        if (cache != null) cache.close();
        for (Layer l : layers) { l.inputNorm().close(); l.postNorm().close(); }
        finalNorm.close();
        file.close();
    }
}
