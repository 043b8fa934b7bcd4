package tern.model;

import tern.runtime.Granularity;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The shape and precision of a LLaMA-style decoder: RMSNorm pre-norm, rotary positions, SwiGLU MLP, no
 * biases, untied embedding and LM head, as many key/value heads as query heads (Spectra's FloatLM/TriLM).
 *
 * @param vocabSize     rows of the embedding and of the LM head
 * @param hidden        model width
 * @param intermediate  SwiGLU inner width ("GLU" in Spectra's table)
 * @param layers        transformer blocks
 * @param heads         attention heads (= key/value heads)
 * @param contextLength longest sequence (max_position_embeddings)
 * @param rmsEps        RMSNorm epsilon
 * @param ropeTheta     rotary base
 * @param modelParallel Spectra's pretraining model-parallel size (its TriLMs have one ternary scale per shard)
 * @param precision     block precision: weight policy, phase-in, activation and KV-cache bits
 */
public record LlamaConfig(int vocabSize, int hidden, int intermediate, int layers, int heads, int contextLength,
                          float rmsEps, float ropeTheta, int modelParallel, Precision precision) {

    /*
     * Spectra facts confirmed against a released config.json (SpectraSuite/TriLM_99M_Unpacked, as mirrored at
     * huggingface.co/brunopio/TriLM_99M_Unpacked-nbits4-GS64-Axis1-HQQ-T/blob/4599369/config.json):
     * vocab_size 50304, max_position_embeddings 2048, rms_norm_eps 1e-05, rope_theta 10000.0,
     * num_key_value_heads = num_attention_heads, tie_word_embeddings false, hidden_act silu,
     * initializer_range 0.02, bos = eos = 0 (GPT-NeoX's <|endoftext|>; the GPT-NeoX tokenizer padded to
     * 50304), pretraining_model_parallel 1 for the 99M model, torch_dtype float16.
     * The shapes and MP of the other sizes come from SPEC.md's table (the SpectraSuite repository's).
     */
    public static final int SPECTRA_VOCAB = 50304;
    public static final int SPECTRA_CONTEXT = 2048;
    public static final float SPECTRA_RMS_EPS = 1e-5f;
    public static final float SPECTRA_ROPE_THETA = 10000f;

    private static final Map<String, LlamaConfig> PRESETS = new LinkedHashMap<>();

    static {
        spectra("99M", 512, 1280, 8, 16, 1);
        spectra("190M", 768, 2048, 12, 16, 1);
        spectra("390M", 1024, 2560, 16, 24, 1);
        spectra("560M", 1280, 3072, 20, 24, 1);
        spectra("830M", 1536, 4096, 24, 24, 1);
        spectra("1.1B", 1792, 5120, 28, 24, 2);
        spectra("1.5B", 2048, 6144, 32, 24, 2);
        spectra("2.4B", 2304, 7680, 36, 30, 3);
        spectra("3.9B", 3072, 9216, 24, 30, 6);
        // Unit tests and the CPU demo: ~0.28M parameters, trains in seconds.
        PRESETS.put("tiny", new LlamaConfig(512, 64, 192, 4, 4, 64, 1e-5f, 10000f, 1, Precision.FLOAT));
        // The CPU benchmark: ~9.8M parameters with a 4096-token vocabulary.
        PRESETS.put("10M", new LlamaConfig(4096, 256, 768, 9, 4, 256, 1e-5f, 10000f, 1, Precision.FLOAT));
        // The golden-file model shared with the PyTorch reference script.
        PRESETS.put("golden", new LlamaConfig(96, 64, 128, 2, 4, 64, 1e-5f, 10000f, 1, Precision.FLOAT));
    }

    private static void spectra(String name, int hidden, int glu, int heads, int layers, int mp) {
        PRESETS.put(name, new LlamaConfig(SPECTRA_VOCAB, hidden, glu, layers, heads, SPECTRA_CONTEXT,
                SPECTRA_RMS_EPS, SPECTRA_ROPE_THETA, mp, Precision.FLOAT));
    }

    public LlamaConfig {
        positive("vocabSize", vocabSize);
        positive("hidden", hidden);
        positive("intermediate", intermediate);
        positive("layers", layers);
        positive("heads", heads);
        positive("contextLength", contextLength);
        positive("modelParallel", modelParallel);
        if (hidden % heads != 0)
            throw new IllegalArgumentException("heads (" + heads + ") must divide hidden (" + hidden + ")");
        if ((hidden / heads) % 2 != 0)
            throw new IllegalArgumentException("head dimension hidden/heads = " + hidden / heads
                    + " must be even (rotary embeddings rotate pairs)");
        if (!(rmsEps > 0f) || Float.isInfinite(rmsEps))
            throw new IllegalArgumentException("rmsEps must be a positive finite number, got " + rmsEps);
        if (!(ropeTheta > 0f) || Float.isInfinite(ropeTheta))
            throw new IllegalArgumentException("ropeTheta must be a positive finite number, got " + ropeTheta);
        if (precision == null) throw new IllegalArgumentException("precision is null");
        if (precision.weights() instanceof LinearPolicy.Ternary(int shards)
                && (hidden % shards != 0 || intermediate % shards != 0))
            throw new IllegalArgumentException("ternary shards (" + shards + ") must divide hidden (" + hidden
                    + ") and intermediate (" + intermediate + "): each shard is an equal cut of a matrix");
    }

    private static void positive(String field, int value) {
        if (value <= 0) throw new IllegalArgumentException(field + " must be positive, got " + value);
    }

    // ---- presets -------------------------------------------------------------------------------------------

    /** A named preset in float precision; unknown names are an error listing the known ones. */
    public static LlamaConfig preset(String name) {
        LlamaConfig c = PRESETS.get(name);
        if (c == null)
            throw new IllegalArgumentException("unknown model preset '" + name + "' (known: "
                    + String.join(", ", PRESETS.keySet()) + ")");
        return c;
    }

    public static java.util.Set<String> presetNames() { return java.util.Collections.unmodifiableSet(PRESETS.keySet()); }

    // ---- derived -------------------------------------------------------------------------------------------

    public int headDim() { return hidden / heads; }

    public LlamaConfig withPrecision(Precision p) {
        return new LlamaConfig(vocabSize, hidden, intermediate, layers, heads, contextLength, rmsEps, ropeTheta,
                modelParallel, p);
    }

    public LlamaConfig withPolicy(LinearPolicy policy) { return withPrecision(precision.withWeights(policy)); }

    /** TriLM of this shape: ternary block linears with one scale per model-parallel shard, as Spectra trained. */
    public LlamaConfig ternary() { return withPolicy(new LinearPolicy.Ternary(modelParallel)); }

    /** The same model over another vocabulary (a tokenizer trained for the demo, a padded vocabulary). */
    public LlamaConfig withVocabSize(int vocab) {
        return new LlamaConfig(vocab, hidden, intermediate, layers, heads, contextLength, rmsEps, ropeTheta,
                modelParallel, precision);
    }

    public LlamaConfig withContextLength(int context) {
        return new LlamaConfig(vocabSize, hidden, intermediate, layers, heads, context, rmsEps, ropeTheta,
                modelParallel, precision);
    }

    /** Weights of one block's seven linears: q, k, v, o (hidden²) and gate, up, down (hidden·intermediate). */
    public long linearParametersPerLayer() {
        return 4L * hidden * hidden + 3L * hidden * intermediate;
    }

    /** Embedding + LM head (untied). */
    public long embeddingParameters() { return 2L * vocabSize * hidden; }

    /** RMSNorm gains: two per block and the final one. */
    public long normParameters() { return (2L * layers + 1) * hidden; }

    public long linearParameters() { return layers * linearParametersPerLayer(); }

    public long parameterCount() { return embeddingParameters() + linearParameters() + normParameters(); }

    /**
     * Model size in bits when the block linears are stored under {@code policy}, counted as Spectra does:
     * embedding, LM head and norms at 16 bits; FloatLM linears at 16 bits; ternary at log2(3) ≈ 1.58 bits per
     * weight ({@code packedTwoBit} = false) or 2 bits (the 2-bit packing), plus one 16-bit scale per shard;
     * binary at 1 bit and k-bit at k bits per weight, plus a 16-bit scale per matrix or per output row.
     */
    public double modelBits(LinearPolicy policy, boolean packedTwoBit) {
        double floatBits = 16.0 * (embeddingParameters() + normParameters());
        long weights = linearParameters();
        long matrices = 7L * layers;
        long rowsPerLayer = 3L * hidden + hidden + 2L * intermediate + hidden;   // q,k,v,o outputs + gate,up + down
        return floatBits + switch (policy) {
            case LinearPolicy.Float f -> 16.0 * weights;
            case LinearPolicy.Ternary(int shards) ->
                    (packedTwoBit ? 2.0 : Math.log(3) / Math.log(2)) * weights + 16.0 * shards * matrices;
            case LinearPolicy.Binary(Granularity g) -> weights + 16.0 * scales(g, matrices, rowsPerLayer);
            case LinearPolicy.Int(int bits, Granularity g) -> (double) bits * weights + 16.0 * scales(g, matrices, rowsPerLayer);
        };
    }

    /** {@link #modelBits(LinearPolicy, boolean)} for this config's own policy at log2(3) bits per ternary weight. */
    public double modelBits() { return modelBits(precision.weights(), false); }

    private long scales(Granularity g, long matrices, long rowsPerLayer) {
        return g == Granularity.TENSOR ? matrices : layers * rowsPerLayer;
    }

    /** One line for logs and the demo: shape, precision and parameter count. */
    public String describe() {
        return String.format("vocab %d, hidden %d, GLU %d, %d layers, %d heads, context %d, %s weights%s%s%s, %.2fM parameters",
                vocabSize, hidden, intermediate, layers, heads, contextLength, precision.weights().label(),
                precision.phaseIn() < 1f && precision.weights().quantized() ? " (phase-in λ=" + precision.phaseIn() + ")" : "",
                precision.activationBits() > 0 ? ", " + precision.activationBits() + "-bit activations" : "",
                precision.kvBits() > 0 ? ", " + precision.kvBits() + "-bit KV" : "",
                parameterCount() / 1e6);
    }
}
