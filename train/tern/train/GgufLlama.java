package tern.train;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What Tern's Llama and llama.cpp's "llama" architecture call the same things: tensor names (Hugging
 * Face's model.layers.N.self_attn.q_proj.weight is llama.cpp's blk.N.attn_q.weight) and the order of
 * the query and key rows.
 *
 * <p>Why q and k are permuted: Tern (like transformers' Llama) applies rotary embeddings with
 * "rotate_half", pairing dimension i of a head with dimension i + d/2; llama.cpp's llama architecture uses
 * the original Meta layout, pairing dimensions 2i and 2i + 1. Reordering the rows of W_q and W_k within
 * each head so that row i goes to 2i and row i + d/2 to 2i + 1 makes llama.cpp rotate the same pairs with
 * the same frequencies; q·k is unchanged because both sides are reordered alike, and W_v, W_o are left
 * as they are. llama.cpp's convert_hf_to_gguf.py does the same for every Hugging Face Llama.
 */
final class GgufLlama {
    private GgufLlama() {}

    /** Hugging Face name → GGUF name, for a model of {@code layers} blocks, in Tern's parameter order. */
    static Map<String, String> names(int layers) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", "token_embd.weight");
        for (int i = 0; i < layers; i++) {
            String hf = "model.layers." + i + ".", g = "blk." + i + ".";
            m.put(hf + "self_attn.q_proj.weight", g + "attn_q.weight");
            m.put(hf + "self_attn.k_proj.weight", g + "attn_k.weight");
            m.put(hf + "self_attn.v_proj.weight", g + "attn_v.weight");
            m.put(hf + "self_attn.o_proj.weight", g + "attn_output.weight");
            m.put(hf + "mlp.gate_proj.weight", g + "ffn_gate.weight");
            m.put(hf + "mlp.up_proj.weight", g + "ffn_up.weight");
            m.put(hf + "mlp.down_proj.weight", g + "ffn_down.weight");
            m.put(hf + "input_layernorm.weight", g + "attn_norm.weight");
            m.put(hf + "post_attention_layernorm.weight", g + "ffn_norm.weight");
        }
        m.put("model.norm.weight", "output_norm.weight");
        m.put("lm_head.weight", "output.weight");
        return m;
    }

    /** Whether a Hugging Face name is a query or key projection (the rows llama.cpp wants reordered). */
    static boolean rotary(String hfName) {
        return hfName.endsWith("self_attn.q_proj.weight") || hfName.endsWith("self_attn.k_proj.weight");
    }

    /**
     * The Tern row that GGUF row {@code ggufRow} holds: within head h, GGUF row h·d + 2i + j is Tern row
     * h·d + j·d/2 + i (j ∈ {0, 1}, i < d/2).
     */
    static int ternRow(int ggufRow, int headDim) {
        int h = ggufRow / headDim, within = ggufRow % headDim;
        return h * headDim + (within % 2) * (headDim / 2) + within / 2;
    }
}
