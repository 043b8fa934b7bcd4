package tern.train;

import tern.checkpoint.GgufBlocks;
import tern.checkpoint.GgufType;
import tern.checkpoint.GgufWriter;
import tern.model.Linear;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.model.TernaryCodes;
import tern.model.Tokenizer;
import tern.runtime.Parameter;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model as a GGUF file for llama.cpp (architecture "llama"): block linears as TQ2_0 / TQ1_0 (exact for a
 * TriLM: its trits, and its γ as each block's fp16 scale) or F16, the embedding and LM head as F16 (or
 * Q8_0 / F32), norms F32, query/key rows in llama.cpp's rotary order ({@link GgufLlama}), and the
 * byte-level BPE tokenizer as tokenizer.ggml.* (model gpt2, pre-tokenizer gpt-2, end of text as BOS and
 * EOS, no BOS added to prompts, as Tern generates).
 *
 * <p>Tern's own scales travel too, as {@code tern.ternary_scales.<tensor>} (f32, one per shard): the fp16
 * block scale is all llama.cpp reads, and Tern reading the file back uses the exact f32 values when they
 * round to the blocks' scales, so Tern → GGUF → Tern is the same model bit for bit.
 */
public final class GgufExport {
    private GgufExport() {}

    /** llama.cpp's token types. */
    static final int NORMAL = 1, CONTROL = 3, UNUSED = 5;

    /**
     * Writes {@code model} (host tensors) to {@code out} atomically, block linears as {@code linearType}
     * (TQ2_0, TQ1_0 or F16) and embedding/head as {@code floatType} (F16, Q8_0 or F32). Returns notes for
     * the user: every matrix that could not take the requested type and what it got instead.
     */
    public static List<String> write(LlamaModel model, Tokenizer tokenizer, GgufType linearType, GgufType floatType, String name, Path out) {
        if (linearType != GgufType.TQ2_0 && linearType != GgufType.TQ1_0 && linearType != GgufType.F16)
            throw new IllegalArgumentException("block linears are written as tq2_0, tq1_0 or f16, not " + linearType.label());
        if (floatType != GgufType.F16 && floatType != GgufType.Q8_0 && floatType != GgufType.F32)
            throw new IllegalArgumentException("the embedding and LM head are written as f16, q8_0 or f32, not " + floatType.label());
        LlamaConfig c = model.config();
        Precision p = c.precision();
        if (p.activationBits() != 0 || p.kvBits() != 0)
            throw new IllegalArgumentException("activation/KV fake quantization (" + p.activationBits() + "/" + p.kvBits() + " bits) has no GGUF form");
        if (p.phaseIn() != 1f)
            throw new IllegalArgumentException("the model is still phasing its precision in (λ = " + p.phaseIn() + "); export needs λ = 1");
        Map<Parameter, TernaryCodes> ternary = ternaryCodes(model);
        if (ternary == null && linearType != GgufType.F16)
            throw new IllegalArgumentException(linearType.label() + " holds ternary weights; this model's block linears are "
                    + p.weights().label() + " (export it with --type f16)");

        List<String> notes = new ArrayList<>();
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", name);
        w.putU32("general.file_type", switch (linearType) { case TQ1_0 -> 36; case TQ2_0 -> 37; default -> 1; });
        w.putU32("general.quantization_version", 2);
        w.putU32("llama.vocab_size", c.vocabSize());
        w.putU32("llama.context_length", c.contextLength());
        w.putU32("llama.embedding_length", c.hidden());
        w.putU32("llama.block_count", c.layers());
        w.putU32("llama.feed_forward_length", c.intermediate());
        w.putU32("llama.attention.head_count", c.heads());
        w.putU32("llama.attention.head_count_kv", c.heads());
        w.putU32("llama.rope.dimension_count", c.headDim());
        w.putF32("llama.rope.freq_base", c.ropeTheta());
        w.putF32("llama.attention.layer_norm_rms_epsilon", c.rmsEps());
        putTokenizer(w, tokenizer, c.vocabSize());
        if (ternary != null) w.putU32("tern.ternary_shards", ternary.values().iterator().next().shards());

        Map<String, String> names = GgufLlama.names(c.layers());
        for (Parameter param : model.parameters()) {
            String gguf = names.get(param.name);
            Tensor t = param.value;
            if (t.rank() == 1) {
                float[] v = t.toFloatArray();
                w.addTensor(gguf, new long[] {v.length}, GgufType.F32, arena -> floats(arena, GgufType.F32, v));
                continue;
            }
            int rows = t.dim(0), cols = t.dim(1);
            long[] dims = {cols, rows};
            boolean rotary = GgufLlama.rotary(param.name);
            TernaryCodes codes = ternary == null ? null : ternary.get(param);
            boolean linear = codes != null || isLinear(model, param);
            GgufType want = linear ? linearType : floatType;
            GgufType type = want;
            if (!want.fitsRow(cols)) {
                type = GgufType.F16;
                notes.add(gguf + ": rows of " + cols + " weights are not whole " + want.label() + " blocks of " + want.blockWeights + "; written as f16");
            } else if (codes != null && want != GgufType.F16 && codes.axis() == ShardAxis.COLS && (cols / codes.shards()) % want.blockWeights != 0) {
                type = GgufType.F16;
                notes.add(gguf + ": its " + codes.shards() + " column shards of " + cols / codes.shards() + " are not whole blocks of " + want.blockWeights
                        + " (one scale per block); written as f16");
            }
            if (codes != null) w.putF32s("tern.ternary_scales." + gguf, codes.gamma());
            int headDim = c.headDim();
            if (type == GgufType.TQ1_0 || type == GgufType.TQ2_0) {
                GgufType tq = type;
                w.addTensor(gguf, dims, tq, arena -> ternaryBlocks(arena, tq, codes, rotary, headDim));
            } else {
                float[] dense = codes != null ? codes.dense() : usedWeights(model, param);
                float[] ordered = rotary ? permuteRows(dense, rows, cols, headDim) : dense;
                GgufType ft = type;
                w.addTensor(gguf, dims, ft, arena -> floats(arena, ft, ordered));
            }
        }
        w.write(out);
        return notes;
    }

    /** The ternary codes of every block linear, or null when the model's block linears are not ternary. */
    private static Map<Parameter, TernaryCodes> ternaryCodes(LlamaModel model) {
        LinearPolicy policy = model.precision().weights();
        if (policy instanceof LinearPolicy.Ternary(int shards)) {
            Map<Parameter, TernaryCodes> m = new IdentityHashMap<>();
            for (Linear l : model.blockLinears()) m.put(l.weight(), TernaryCodes.quantize(l.weight().value, shards, l.shardAxis()));
            return m;
        }
        if (policy instanceof LinearPolicy.Float) {          // e.g. a Hugging Face folder of ±γ/0 weights
            TernaryCodes.ModelCodes r = TernaryCodes.recognize(model);
            return r.ternary() ? r.byWeight() : null;
        }
        return null;
    }

    private static boolean isLinear(LlamaModel model, Parameter p) {
        for (Linear l : model.blockLinears()) if (l.weight() == p) return true;
        return false;
    }

    /** The weights a float/binary/k-bit linear uses (what HfExport stores), or an embedding's values. */
    private static float[] usedWeights(LlamaModel model, Parameter p) {
        for (Linear l : model.blockLinears())
            if (l.weight() == p) {
                try (Tensor used = HfExport.usedWeights(model.backend(), l, model.precision())) {
                    return used.toFloatArray();
                }
            }
        return p.value.toFloatArray();
    }

    static float[] permuteRows(float[] w, int rows, int cols, int headDim) {
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) System.arraycopy(w, GgufLlama.ternRow(r, headDim) * cols, out, r * cols, cols);
        return out;
    }

    private static MemorySegment floats(java.lang.foreign.Arena arena, GgufType type, float[] v) {
        for (int i = 0; i < v.length; i++)
            if (!Float.isFinite(v[i])) throw new IllegalArgumentException("a weight is not finite (element " + i + ")");
        MemorySegment m = arena.allocate(type.bytes(v.length), 8);
        GgufBlocks.encodeFloats(type, v, 0, v.length, m, 0);
        return m;
    }

    private static MemorySegment ternaryBlocks(java.lang.foreign.Arena arena, GgufType type, TernaryCodes codes, boolean rotary, int headDim) {
        int rows = codes.rows(), cols = codes.cols(), perRow = cols / 256;
        MemorySegment m = arena.allocate(type.bytes((long) rows * cols), 8);
        byte[] trits = codes.trits();
        for (int r = 0; r < rows; r++) {
            int src = rotary ? GgufLlama.ternRow(r, headDim) : r;
            for (int b = 0; b < perRow; b++) {
                short d = Float.floatToFloat16(codes.gamma()[codes.shardOf(src, 256 * b)]);
                GgufBlocks.encodeTernary(type, trits, src * cols + 256 * b, d, m, (long) (r * perRow + b) * type.blockBytes);
            }
        }
        return m;
    }

    /** tokenizer.ggml.*: GPT-2 BPE, padded with unused tokens up to the model's vocabulary. */
    private static void putTokenizer(GgufWriter w, Tokenizer t, int modelVocab) {
        if (t.vocabSize() > modelVocab)
            throw new IllegalArgumentException("the tokenizer has " + t.vocabSize() + " tokens, more than the model's " + modelVocab);
        int eot = t.endOfText();
        if (eot < 0) throw new IllegalArgumentException("the tokenizer has no " + Tokenizer.END_OF_TEXT + " token (llama.cpp needs an end-of-text id)");
        List<String> tokens = new ArrayList<>(modelVocab);
        int[] types = new int[modelVocab];
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int id = 0; id < t.vocabSize(); id++) {
            tokens.add(t.token(id));
            seen.add(t.token(id));
            types[id] = t.isSpecial(id) ? CONTROL : NORMAL;
        }
        for (int id = t.vocabSize(); id < modelVocab; id++) {
            String pad = "[PAD" + id + "]";
            while (!seen.add(pad)) pad = "[" + pad + "]";
            tokens.add(pad);
            types[id] = UNUSED;
        }
        List<String> merges = new ArrayList<>();
        for (int[] m : t.merges()) merges.add(t.token(m[0]) + " " + t.token(m[1]));
        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", "gpt-2");
        w.putStrings("tokenizer.ggml.tokens", tokens);
        w.putI32s("tokenizer.ggml.token_type", types);
        w.putStrings("tokenizer.ggml.merges", merges);
        w.putU32("tokenizer.ggml.bos_token_id", eot);
        w.putU32("tokenizer.ggml.eos_token_id", eot);
        w.putBool("tokenizer.ggml.add_bos_token", false);
        w.putBool("tokenizer.ggml.add_eos_token", false);
    }
}
