package tern.train;

import tern.checkpoint.CheckpointException;
import tern.checkpoint.GgufBlocks;
import tern.checkpoint.GgufFile;
import tern.checkpoint.GgufType;
import tern.model.Linear;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.model.TernaryCodes;
import tern.model.Tokenizer;
import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.runtime.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A llama-architecture GGUF file (llama.cpp's format) read into Tern: the hyperparameters as a
 * {@link LlamaConfig}, the tensors (TQ1_0, TQ2_0, F16, BF16, F32, Q8_0) as a float {@link LlamaModel}
 * computing what llama.cpp computes (query/key rows put back in Tern's rotary order, {@link GgufLlama}),
 * and the GPT-2 BPE vocabulary as a {@link Tokenizer}. Everything is checked (keys, every tensor's name,
 * type and shape against the hyperparameters) before the model is allocated; errors name the file.
 */
public final class GgufImport {
    private GgufImport() {}

    /** The hyperparameters; Tern's architecture limits (no grouped-query attention, no rope scaling) are checked here. */
    public static LlamaConfig config(GgufFile g) {
        String arch = g.required("general.architecture", String.class);
        if (!arch.equals("llama")) throw bad(g, "general.architecture is '" + arch + "'; Tern reads 'llama' models");
        int layers = positive(g, "llama.block_count");
        int hidden = positive(g, "llama.embedding_length");
        int ffn = positive(g, "llama.feed_forward_length");
        int heads = positive(g, "llama.attention.head_count");
        Long kv = g.optional("llama.attention.head_count_kv", Long.class);
        if (kv != null && kv != heads)
            throw bad(g, "llama.attention.head_count_kv (" + kv + ") differs from head_count (" + heads + "); grouped-query attention is not supported");
        int context = positive(g, "llama.context_length");
        if (hidden % heads != 0 || (hidden / heads) % 2 != 0)
            throw bad(g, "llama.embedding_length " + hidden + " is not an even head size times head_count " + heads);
        Long rotDims = g.optional("llama.rope.dimension_count", Long.class);
        if (rotDims != null && rotDims != hidden / heads)
            throw bad(g, "llama.rope.dimension_count is " + rotDims + "; Tern rotates the whole head (" + hidden / heads + ")");
        String scaling = g.optional("llama.rope.scaling.type", String.class);
        if (scaling != null && !scaling.equals("none")) throw bad(g, "llama.rope.scaling.type is '" + scaling + "'; Tern implements plain rotary positions");
        Long experts = g.optional("llama.expert_count", Long.class);
        if (experts != null && experts > 0) throw bad(g, "llama.expert_count is " + experts + "; mixtures of experts are not supported");
        Double eps = g.required("llama.attention.layer_norm_rms_epsilon", Double.class);
        Double theta = g.optional("llama.rope.freq_base", Double.class);
        GgufFile.TensorInfo embedding = g.tensors().get("token_embd.weight");
        if (embedding == null) throw bad(g, "tensor 'token_embd.weight' is missing");
        if (embedding.dims().length != 2) throw bad(g, "tensor 'token_embd.weight' has " + embedding.dims().length + " dimensions, not 2");
        int vocab = (int) embedding.dims()[1];
        Long declared = g.optional("llama.vocab_size", Long.class);
        if (declared != null && declared != vocab) throw bad(g, "llama.vocab_size is " + declared + " but token_embd.weight has " + vocab + " rows");
        try {
            return new LlamaConfig(vocab, hidden, ffn, layers, heads, context, (float) (double) eps,
                    theta == null ? 10000f : (float) (double) theta, 1, Precision.FLOAT);
        } catch (IllegalArgumentException e) {
            throw bad(g, e.getMessage());
        }
    }

    private static int positive(GgufFile g, String key) {
        long v = g.required(key, Long.class);
        if (v < 1 || v > 1 << 24) throw bad(g, key + " is " + v + " (1 to 2^24 allowed)");
        return (int) v;
    }

    private static CheckpointException bad(GgufFile g, String problem) { return new CheckpointException(g.file(), problem); }

    /**
     * The model in float precision, its weights those the file stores (ternary tensors as γ·T). Every tensor
     * is checked before anything is allocated; a file without output.weight (a tied head) gets a copy of
     * the embedding.
     */
    public static LlamaModel model(GgufFile g, Backend backend) {
        LlamaConfig c = config(g);
        // 9 tensors a block + embedding and final norm: checked before the name table is built for that many blocks
        if (g.tensors().size() < 9L * c.layers() + 2)
            throw bad(g, "llama.block_count is " + c.layers() + " but the file holds only " + g.tensors().size() + " tensors (a block has 9)");
        Map<String, String> names = GgufLlama.names(c.layers());
        Set<String> expected = new HashSet<>(names.values());
        for (String t : g.tensors().keySet())
            if (!expected.contains(t)) throw bad(g, "tensor '" + t + "' is not part of a " + c.layers() + "-block llama model Tern runs");
        Map<String, int[]> shapes = shapes(c);
        for (Map.Entry<String, String> e : names.entrySet()) {
            GgufFile.TensorInfo t = g.tensors().get(e.getValue());
            if (t == null) {
                if (e.getValue().equals("output.weight")) continue;
                throw bad(g, "tensor '" + e.getValue() + "' is missing");
            }
            int[] want = shapes.get(e.getKey());
            if (!java.util.Arrays.equals(t.shape(), want))
                throw bad(g, "tensor '" + t.name() + "' has shape " + java.util.Arrays.toString(t.shape()) + " (rows, cols), the hyperparameters need " + java.util.Arrays.toString(want));
        }
        Long tShards = g.optional("tern.ternary_shards", Long.class);
        LlamaModel model = new LlamaModel(backend, c);
        try {
            for (Parameter p : model.parameters()) {
                String gguf = names.get(p.name);
                GgufFile.TensorInfo t = g.tensors().get(gguf);
                if (t == null) t = g.tensors().get("token_embd.weight");    // tied head
                float[] values = dequantize(g, t);
                int rows = p.value.dim(0), cols = p.value.rank() == 2 ? p.value.dim(1) : 1;
                if (GgufLlama.rotary(p.name)) values = unpermuteRows(values, rows, cols, c.headDim());
                Linear linear = linearOf(model, p);
                if (linear != null && tShards != null) values = exactScales(g, gguf, values, linear, (int) (long) tShards);
                try (Tensor src = backend.upload(values, p.value.shape())) {
                    backend.copy(src, p.value);
                }
            }
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static Map<String, int[]> shapes(LlamaConfig c) {
        Map<String, int[]> m = new java.util.HashMap<>();
        int h = c.hidden(), f = c.intermediate();
        m.put("model.embed_tokens.weight", new int[] {c.vocabSize(), h});
        m.put("lm_head.weight", new int[] {c.vocabSize(), h});
        m.put("model.norm.weight", new int[] {h});
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            for (String s : List.of("q", "k", "v", "o")) m.put(p + "self_attn." + s + "_proj.weight", new int[] {h, h});
            m.put(p + "mlp.gate_proj.weight", new int[] {f, h});
            m.put(p + "mlp.up_proj.weight", new int[] {f, h});
            m.put(p + "mlp.down_proj.weight", new int[] {h, f});
            m.put(p + "input_layernorm.weight", new int[] {h});
            m.put(p + "post_attention_layernorm.weight", new int[] {h});
        }
        return m;
    }

    private static Linear linearOf(LlamaModel model, Parameter p) {
        for (Linear l : model.blockLinears()) if (l.weight() == p) return l;
        return null;
    }

    /** A tensor's values as floats, row-major in GGUF's row order. */
    static float[] dequantize(GgufFile g, GgufFile.TensorInfo t) {
        long n = t.elements();
        if (n > Integer.MAX_VALUE - 8) throw bad(g, "tensor '" + t.name() + "' has " + n + " elements, more than one Java array holds");
        float[] out = new float[(int) n];
        try {
            GgufBlocks.decodeFloats(t.type(), g.data(t), 0, n, out, 0);
        } catch (IllegalArgumentException e) {
            throw bad(g, "tensor '" + t.name() + "': " + e.getMessage());
        }
        for (int i = 0; i < out.length; i++)
            if (!Float.isFinite(out[i])) throw bad(g, "tensor '" + t.name() + "' holds a non-finite value at element " + i);
        return out;
    }

    static float[] unpermuteRows(float[] w, int rows, int cols, int headDim) {
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) System.arraycopy(w, r * cols, out, GgufLlama.ternRow(r, headDim) * cols, cols);
        return out;
    }

    /**
     * A Tern export's f32 scales (tern.ternary_scales.*) in place of the fp16 ones the blocks hold, when the
     * tensor is γ·T with that many shards and each f32 γ rounds to the stored one; a file claiming scales
     * its tensor does not have is refused.
     */
    private static float[] exactScales(GgufFile g, String gguf, float[] values, Linear linear, int shards) {
        Object raw = g.metadata().get("tern.ternary_scales." + gguf);
        if (raw == null) return values;
        if (!(raw instanceof List<?> list) || list.size() != shards)
            throw bad(g, "tern.ternary_scales." + gguf + " is not an array of " + shards + " scales (tern.ternary_shards)");
        TernaryCodes codes = TernaryCodes.recognize(values, linear.outFeatures(), linear.inFeatures(), shards, linear.shardAxis());
        if (codes == null) throw bad(g, "tensor '" + gguf + "' is not ±γ/0 with " + shards + " shards, as its tern.ternary_scales say");
        float[] gamma = new float[shards];
        for (int s = 0; s < shards; s++) {
            if (!(list.get(s) instanceof Double d)) throw bad(g, "tern.ternary_scales." + gguf + " element " + s + " is not a float");
            gamma[s] = (float) (double) d;
            float stored = codes.gamma()[s];
            if (stored != 0 && Float.float16ToFloat(Float.floatToFloat16(gamma[s])) != stored && gamma[s] != stored)
                throw bad(g, "tern.ternary_scales." + gguf + " element " + s + " = " + gamma[s] + " does not round to the tensor's scale " + stored);
        }
        return new TernaryCodes(codes.rows(), codes.cols(), codes.axis(), gamma, codes.trits()).dense();
    }

    /** The GPT-2 byte-level BPE tokenizer of tokenizer.ggml.* (trailing unused padding tokens dropped). */
    public static Tokenizer tokenizer(GgufFile g) {
        String model = g.required("tokenizer.ggml.model", String.class);
        if (!model.equals("gpt2")) throw bad(g, "tokenizer.ggml.model is '" + model + "'; Tern reads byte-level BPE ('gpt2') tokenizers");
        String pre = g.optional("tokenizer.ggml.pre", String.class);
        if (pre != null && !pre.equals("gpt-2") && !pre.equals("default"))
            throw bad(g, "tokenizer.ggml.pre is '" + pre + "'; Tern's tokenizer splits words as GPT-2 does ('gpt-2')");
        List<?> tokens = g.required("tokenizer.ggml.tokens", List.class);
        List<?> types = g.optional("tokenizer.ggml.token_type", List.class);
        List<?> merges = g.optional("tokenizer.ggml.merges", List.class);
        if (types != null && types.size() != tokens.size())
            throw bad(g, "tokenizer.ggml.token_type has " + types.size() + " entries for " + tokens.size() + " tokens");
        int n = tokens.size();
        while (n > 0 && types != null && type(g, types, n - 1) == GgufExport.UNUSED) n--;
        List<String> vocab = new ArrayList<>(n);
        Set<Integer> special = new HashSet<>();
        for (int i = 0; i < n; i++) {
            if (!(tokens.get(i) instanceof String s)) throw bad(g, "tokenizer.ggml.tokens element " + i + " is not a string");
            vocab.add(s);
            if (types != null && type(g, types, i) != GgufExport.NORMAL) special.add(i);
        }
        List<String[]> pairs = new ArrayList<>();
        if (merges != null)
            for (int i = 0; i < merges.size(); i++) {
                if (!(merges.get(i) instanceof String m)) throw bad(g, "tokenizer.ggml.merges element " + i + " is not a string");
                int sp = m.indexOf(' ');
                if (sp <= 0 || sp == m.length() - 1 || m.indexOf(' ', sp + 1) >= 0)
                    throw bad(g, "tokenizer.ggml.merges element " + i + " ('" + m + "') is not two tokens separated by one space");
                pairs.add(new String[] {m.substring(0, sp), m.substring(sp + 1)});
            }
        try {
            return new Tokenizer(vocab, special, pairs, false);
        } catch (IllegalArgumentException e) {
            throw bad(g, "tokenizer.ggml.*: " + e.getMessage());
        }
    }

    private static long type(GgufFile g, List<?> types, int i) {
        if (!(types.get(i) instanceof Long l)) throw bad(g, "tokenizer.ggml.token_type element " + i + " is not an integer");
        return l;
    }

    /** Reads a GGUF file's model and tokenizer (the model on {@code backend}); the caller closes the model. */
    public record Loaded(LlamaModel model, Tokenizer tokenizer) {}

    public static Loaded load(Path file, Backend backend) {
        try (GgufFile g = GgufFile.open(file)) {
            Tokenizer t = tokenizer(g);
            LlamaModel m = model(g, backend);
            if (t.vocabSize() > m.config().vocabSize()) {
                m.close();
                throw bad(g, "the tokenizer has " + t.vocabSize() + " tokens, more than the model's " + m.config().vocabSize());
            }
            return new Loaded(m, t);
        }
    }
}
