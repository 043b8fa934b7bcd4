package tern.model;

import org.junit.jupiter.api.Test;
import tern.checkpoint.Json;
import tern.runtime.Granularity;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** config.json ⇄ LlamaConfig. */
class HfConfigTest {

    @Test
    void roundTripKeepsShapeAndPrecision() {
        for (LlamaConfig c : List.of(LlamaConfig.preset("3.9B").ternary(),
                LlamaConfig.preset("golden"),
                LlamaConfig.preset("tiny").withPrecision(new Precision(new LinearPolicy.Int(4, Granularity.ROW), 0.25f, 8, 6)),
                LlamaConfig.preset("10M").withPrecision(Precision.of(new LinearPolicy.Binary(Granularity.TENSOR)).withPhaseIn(0.1f)))) {
            assertEquals(c, HfConfig.read(HfConfig.write(c), "config.json"));
        }
    }

    @Test
    void writesTheKeysTransformersReads() {
        Map<String, Object> m = Json.parseObject(HfConfig.write(LlamaConfig.preset("2.4B").ternary()));
        assertEquals("llama", m.get("model_type"));
        assertEquals(List.of("LlamaForCausalLM"), m.get("architectures"));
        assertEquals(2304L, m.get("hidden_size"));
        assertEquals(7680L, m.get("intermediate_size"));
        assertEquals(36L, m.get("num_attention_heads"));
        assertEquals(36L, m.get("num_key_value_heads"));
        assertEquals(30L, m.get("num_hidden_layers"));
        assertEquals(50304L, m.get("vocab_size"));
        assertEquals(2048L, m.get("max_position_embeddings"));
        assertEquals(1e-5, (Double) m.get("rms_norm_eps"));
        assertEquals(10000.0, (Double) m.get("rope_theta"));
        assertEquals(false, m.get("tie_word_embeddings"));
        assertEquals("silu", m.get("hidden_act"));
        assertEquals("float32", m.get("torch_dtype"));
        assertEquals("ternary", m.get("tern_precision"));
        assertEquals(3L, m.get("tern_ternary_shards"));
        assertEquals(3L, m.get("pretraining_model_parallel"));
    }

    @Test
    void readsASpectraReleaseConfig() {
        // The keys of SpectraSuite/TriLM_99M_Unpacked's config.json (no tern_* keys: loads as float weights).
        String spectra = """
                {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 0, "eos_token_id": 0,
                 "hidden_act": "silu", "hidden_size": 512, "initializer_range": 0.02, "intermediate_size": 1280,
                 "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 8,
                 "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_model_parallel": 1,
                 "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false,
                 "torch_dtype": "float16", "use_cache": true, "vocab_size": 50304}""";
        assertEquals(LlamaConfig.preset("99M"), HfConfig.read(spectra, "TriLM_99M/config.json"));
    }

    @Test
    void readsTransformers5RopeParameters() {
        // transformers 5 writes rope_theta inside rope_parameters, not at the top level.
        String v5 = HfConfig.write(LlamaConfig.preset("golden")).replace("\"rope_theta\": 10000.0",
                "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}");
        assertEquals(500000f, HfConfig.read(v5, "v5/config.json").ropeTheta());
        expect(v5.replace("\"default\"", "\"yarn\""), "rope_parameters.rope_type is 'yarn'");
    }

    @Test
    void badConfigsNameTheFileAndKey() {
        String good = HfConfig.write(LlamaConfig.preset("golden"));
        expect(good.replace("\"hidden_size\": 64,", ""), "missing required key 'hidden_size'");
        expect(good.replace("\"hidden_size\": 64", "\"hidden_size\": \"64\""), "'hidden_size' must be an integer");
        expect(good.replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 2"), "grouped-query attention");
        expect(good.replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"), "tie_word_embeddings");
        expect(good.replace("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\""), "model_type");
        expect(good.replace("\"tern_precision\": \"float\"", "\"tern_precision\": \"int1\""), "tern_precision 'int1': int bits must be in 2..16");
        expect(good.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 3").replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3")
                .replace("\"head_dim\": 16,", ""), "heads (3) must divide hidden (64)");
        expect("{\"hidden_size\": ", "malformed JSON");
    }

    private static void expect(String json, String fragment) {
        var e = assertThrows(IllegalArgumentException.class, () -> HfConfig.read(json, "runs/x/config.json"));
        assertTrue(e.getMessage().startsWith("runs/x/config.json: ") && e.getMessage().contains(fragment), e.getMessage());
    }
}
