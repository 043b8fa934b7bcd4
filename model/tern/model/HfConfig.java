package tern.model;

import tern.checkpoint.Json;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link LlamaConfig} ⇄ Hugging Face {@code config.json} for {@code LlamaForCausalLM}. The standard keys
 * make a Tern checkpoint load in transformers; Tern's precision travels in keys transformers ignores
 * ({@code tern_*}), and Spectra's {@code pretraining_model_parallel} is read and written as Spectra does.
 */
public final class HfConfig {
    private HfConfig() {}

    /** The config.json text (pretty-printed) of f32 weights, bos = eos = 0 (Spectra's). */
    public static String write(LlamaConfig c) {
        return write(c, "float32", 0, 0);
    }

    /**
     * The config.json text for weights stored as {@code torchDtype} ("float32", "float16", "bfloat16") and
     * the tokenizer's begin/end-of-text ids (Tern's tokenizers have {@code <|endoftext|>} last).
     */
    public static String write(LlamaConfig c, String torchDtype, int bosTokenId, int eosTokenId) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("architectures", List.of("LlamaForCausalLM"));
        m.put("model_type", "llama");
        m.put("vocab_size", c.vocabSize());
        m.put("hidden_size", c.hidden());
        m.put("intermediate_size", c.intermediate());
        m.put("num_hidden_layers", c.layers());
        m.put("num_attention_heads", c.heads());
        m.put("num_key_value_heads", c.heads());
        m.put("head_dim", c.headDim());
        m.put("max_position_embeddings", c.contextLength());
        m.put("rms_norm_eps", shortest(c.rmsEps()));
        m.put("rope_theta", shortest(c.ropeTheta()));
        m.put("hidden_act", "silu");
        m.put("tie_word_embeddings", false);
        m.put("attention_bias", false);
        m.put("mlp_bias", false);
        m.put("torch_dtype", torchDtype);
        m.put("bos_token_id", bosTokenId);
        m.put("eos_token_id", eosTokenId);
        m.put("pretraining_model_parallel", c.modelParallel());
        Precision p = c.precision();
        m.put("tern_precision", p.weights().label());
        m.put("tern_ternary_shards", p.weights() instanceof LinearPolicy.Ternary(int s) ? s : c.modelParallel());
        m.put("tern_phase_in", shortest(p.phaseIn()));
        m.put("tern_activation_bits", p.activationBits());
        m.put("tern_kv_bits", p.kvBits());
        return Json.pretty(m);
    }

    /** The double whose decimal form is the float's shortest one (1e-5f is written 1.0E-5, not 9.99…E-6). */
    private static double shortest(float f) { return Double.parseDouble(Float.toString(f)); }

    /**
     * Parses config.json text; {@code source} (a file name) appears in every error. Checkpoints without the
     * tern_* keys (transformers' own, Spectra's) load in float precision with their model-parallel size kept.
     */
    public static LlamaConfig read(String json, String source) {
        Map<String, Object> m;
        try {
            m = Json.parseUniqueObject(json);            // "vocab_size" twice: which one did the writer mean?
        } catch (Json.JsonException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
        Reader r = new Reader(m, source);
        String type = r.string("model_type", "llama");
        if (!type.equals("llama"))
            throw new IllegalArgumentException(source + ": model_type is '" + type + "', Tern reads 'llama' models");
        String act = r.string("hidden_act", "silu");
        if (!act.equals("silu"))
            throw new IllegalArgumentException(source + ": hidden_act is '" + act + "', Tern's MLP is SwiGLU (silu)");
        if (r.bool("tie_word_embeddings", false))
            throw new IllegalArgumentException(source + ": tie_word_embeddings is true; Tern keeps the embedding and LM head separate");
        if (r.bool("attention_bias", false) || r.bool("mlp_bias", false))
            throw new IllegalArgumentException(source + ": biases are set; Tern's linears have none");
        int heads = r.integer("num_attention_heads", null);
        int kvHeads = r.integer("num_key_value_heads", heads);
        if (kvHeads != heads)
            throw new IllegalArgumentException(source + ": num_key_value_heads (" + kvHeads + ") differs from num_attention_heads ("
                    + heads + "); grouped-query attention is not supported");
        int hidden = r.integer("hidden_size", null);
        if (m.get("head_dim") != null && heads > 0 && r.integer("head_dim", null) != hidden / heads)
            throw new IllegalArgumentException(source + ": head_dim (" + r.integer("head_dim", null)
                    + ") is not hidden_size / num_attention_heads (" + hidden / Math.max(1, heads) + ")");
        if (m.get("rope_scaling") != null)
            throw new IllegalArgumentException(source + ": rope_scaling is set; Tern implements plain rotary positions");
        // transformers 5 moved rope_theta into rope_parameters {rope_type, rope_theta}; 4.x keeps it at the top level.
        double ropeTheta = r.number("rope_theta", 10000.0);
        if (m.get("rope_parameters") instanceof Map<?, ?> rp) {
            Reader rope = new Reader(castMap(rp), source + " rope_parameters");
            String ropeType = rope.string("rope_type", "default");
            if (!ropeType.equals("default"))
                throw new IllegalArgumentException(source + ": rope_parameters.rope_type is '" + ropeType + "'; Tern implements plain rotary positions");
            ropeTheta = rope.number("rope_theta", ropeTheta);
        }
        int mp = r.integer("pretraining_model_parallel", 1);
        int shards = r.integer("tern_ternary_shards", mp);
        try {
            String label = r.string("tern_precision", "float");
            LinearPolicy policy;
            try {
                policy = LinearPolicy.parse(label, shards);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(source + ": tern_precision '" + label + "': " + e.getMessage(), e);
            }
            Precision precision = new Precision(policy,
                    (float) r.number("tern_phase_in", 1.0), r.integer("tern_activation_bits", 0), r.integer("tern_kv_bits", 0));
            return new LlamaConfig(r.integer("vocab_size", null), hidden, r.integer("intermediate_size", null),
                    r.integer("num_hidden_layers", null), heads, r.integer("max_position_embeddings", null),
                    (float) r.number("rms_norm_eps", 1e-6), (float) ropeTheta, mp, precision);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(source + ":")) throw e;
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    /** Typed access to config keys with errors naming the file and key. */
    private record Reader(Map<String, Object> m, String source) {
        int integer(String key, Integer fallback) {
            Object v = m.get(key);
            if (v == null) {
                if (fallback == null) throw new IllegalArgumentException(source + ": missing required key '" + key + "'");
                return fallback;
            }
            if (v instanceof Long l && l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) return (int) (long) l;
            if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) <= Integer.MAX_VALUE) return (int) (double) d;
            throw new IllegalArgumentException(source + ": '" + key + "' must be an integer, got " + Json.write(v));
        }

        double number(String key, double fallback) {
            Object v = m.get(key);
            if (v == null) return fallback;
            if (v instanceof Number n) return n.doubleValue();
            throw new IllegalArgumentException(source + ": '" + key + "' must be a number, got " + Json.write(v));
        }

        String string(String key, String fallback) {
            Object v = m.get(key);
            if (v == null) return fallback;
            if (v instanceof String s) return s;
            throw new IllegalArgumentException(source + ": '" + key + "' must be a string, got " + Json.write(v));
        }

        boolean bool(String key, boolean fallback) {
            Object v = m.get(key);
            if (v == null) return fallback;
            if (v instanceof Boolean b) return b;
            throw new IllegalArgumentException(source + ": '" + key + "' must be true or false, got " + Json.write(v));
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Map<?, ?> m) {
        return (Map<String, Object>) m;
    }
}
