package tern.model;

import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.runtime.ShardAxis;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.runtime.Var;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LLaMA decoder on one backend: embedding → N × [RMSNorm → attention (q, k, v, RoPE, causal softmax, o)
 * → +residual → RMSNorm → SwiGLU MLP (gate, up, down) → +residual] → RMSNorm → LM head. Parameters carry
 * Hugging Face Llama names and [out, in] layouts, so checkpoints map one to one. The block linears follow
 * the current {@link Precision}; the embedding, norms and LM head stay float (Spectra keeps them in half
 * precision).
 */
public final class LlamaModel implements AutoCloseable {
    private final Backend backend;
    private final LlamaConfig shape;
    private Precision precision;
    private int checkpointedBlocks;
    private final Parameter embedding, finalNorm, lmHead;
    private final List<Layer> layers = new ArrayList<>();
    private final List<Parameter> parameters = new ArrayList<>();
    private final Map<String, Parameter> byName = new LinkedHashMap<>();

    /** One transformer block's parameters. */
    record Layer(Parameter inputNorm, Linear q, Linear k, Linear v, Linear o,
                 Parameter postNorm, Linear gate, Linear up, Linear down) {
        Linear[] linears() { return new Linear[]{q, k, v, o, gate, up, down}; }
    }

    /** Allocates zeroed parameters; call {@link #initialize} or load a checkpoint into them. */
    public LlamaModel(Backend backend, LlamaConfig config) {
        this.backend = backend;
        this.shape = config;
        this.precision = config.precision();
        int h = config.hidden(), ffn = config.intermediate();
        embedding = add("model.embed_tokens.weight", true, config.vocabSize(), h);
        for (int i = 0; i < config.layers(); i++) {
            String p = "model.layers." + i + ".";
            // Hugging Face's state-dict order within a layer: attention, MLP, then the two norms.
            Linear q = new Linear(add(p + "self_attn.q_proj.weight", true, h, h), ShardAxis.ROWS);
            Linear k = new Linear(add(p + "self_attn.k_proj.weight", true, h, h), ShardAxis.ROWS);
            Linear v = new Linear(add(p + "self_attn.v_proj.weight", true, h, h), ShardAxis.ROWS);
            Linear o = new Linear(add(p + "self_attn.o_proj.weight", true, h, h), ShardAxis.COLS);
            Linear gate = new Linear(add(p + "mlp.gate_proj.weight", true, ffn, h), ShardAxis.ROWS);
            Linear up = new Linear(add(p + "mlp.up_proj.weight", true, ffn, h), ShardAxis.ROWS);
            Linear down = new Linear(add(p + "mlp.down_proj.weight", true, h, ffn), ShardAxis.COLS);
            Parameter inNorm = add(p + "input_layernorm.weight", false, h);
            Parameter postNorm = add(p + "post_attention_layernorm.weight", false, h);
            layers.add(new Layer(inNorm, q, k, v, o, postNorm, gate, up, down));
        }
        finalNorm = add("model.norm.weight", false, h);
        lmHead = add("lm_head.weight", true, config.vocabSize(), h);
    }

    private Parameter add(String name, boolean decay, int... dims) {
        Parameter p = Parameter.create(backend, name, decay, dims);
        parameters.add(p);
        byName.put(name, p);
        return p;
    }

    // ---- parameters and settings ---------------------------------------------------------------------------

    /** Every parameter in Hugging Face order. */
    public List<Parameter> parameters() { return Collections.unmodifiableList(parameters); }

    public Parameter parameter(String hfName) {
        Parameter p = byName.get(hfName);
        if (p == null)
            throw new IllegalArgumentException("no parameter named '" + hfName + "' in this " + shape.layers()
                    + "-layer Llama (names look like model.layers.0.self_attn.q_proj.weight, lm_head.weight)");
        return p;
    }

    public Backend backend() { return backend; }

    /**
     * The block linears (q, k, v, o, gate, up, down per layer, HF order) with their shard axes: what a packer
     * needs to store ternary weights with the same per-shard scales as training used.
     */
    public List<Linear> blockLinears() {
        List<Linear> all = new ArrayList<>();
        for (Layer l : layers) all.addAll(List.of(l.linears()));
        return Collections.unmodifiableList(all);
    }

    /** The shape with the current precision (what a checkpoint's config.json records). */
    public LlamaConfig config() { return shape.withPrecision(precision); }

    public Precision precision() { return precision; }

    /** Replaces the block precision (validated against the shape: ternary shards must divide the matrices). */
    public void setPrecision(Precision p) { this.precision = shape.withPrecision(p).precision(); }

    /** Switches the block linears' weight policy, e.g. float → ternary mid-run; λ is kept. */
    public void setPolicy(LinearPolicy policy) { setPrecision(precision.withWeights(policy)); }

    /**
     * Activation checkpointing per block ({@link Tape#checkpoint}): the forward keeps only each block's
     * input, and the backward recomputes one block at a time. Same gradients, one more forward per step.
     */
    public void setCheckpointActivations(boolean on) { setCheckpointedBlocks(on ? layers.size() : 0); }

    /** Checkpoints the first {@code n} blocks only: the fewest that make a run fit cost the least recompute. */
    public void setCheckpointedBlocks(int n) {
        if (n < 0 || n > layers.size())
            throw new IllegalArgumentException("checkpointed blocks must be in [0, " + layers.size() + "], got " + n);
        this.checkpointedBlocks = n;
    }

    public int checkpointedBlocks() { return checkpointedBlocks; }

    /** Continual QAT: W_used = W + λ·(Q(W) − W). */
    public void setPhaseIn(float lambda) { setPrecision(precision.withPhaseIn(lambda)); }

    /**
     * Seeded initialization, reproducible across JVMs: every 2-D weight ~ N(0, 0.02²) (the released Spectra
     * configs' initializer_range and transformers' Llama default), every norm gain 1. Each parameter draws
     * from its own sub-stream of {@code seed}, so the values do not depend on initialization order.
     */
    public void initialize(long seed) {
        for (int i = 0; i < parameters.size(); i++) {
            Parameter p = parameters.get(i);
            if (p.value.rank() == 1) {
                backend.fill(p.value, 1f);
            } else {
                fillNormal(p.value, SeededRandom.derive(seed, i), 0.02);
            }
            p.zeroGrad(backend);
        }
    }

    private void fillNormal(Tensor t, SeededRandom rng, double std) {
        int rows = t.dim(0), cols = t.dim(1);
        int chunkRows = Math.max(1, (1 << 20) / cols);          // upload ≤ ~1M floats at a time
        for (int r0 = 0; r0 < rows; r0 += chunkRows) {
            int r1 = Math.min(rows, r0 + chunkRows);
            float[] values = new float[(r1 - r0) * cols];
            for (int j = 0; j < values.length; j++) values[j] = (float) (std * rng.nextGaussian());
            try (Tensor chunk = backend.upload(values, r1 - r0, cols)) {
                backend.copy(chunk, t.slice(r0, r1));
            }
        }
    }

    // ---- forward ---------------------------------------------------------------------------------------------

    /** Forward + mean cross-entropy on a recording tape (call tape.backward() after); lossScale = 1/accumulation steps. */
    public float loss(Tape tape, int[] inputs, int[] targets, int batch, int seq, float lossScale) {
        checkTokens(inputs, batch, seq, "inputs");
        if (targets.length != inputs.length)
            throw new IllegalArgumentException(targets.length + " targets for " + inputs.length + " inputs");
        for (int i = 0; i < targets.length; i++)
            if (targets[i] < -1 || targets[i] >= shape.vocabSize())
                throw new IllegalArgumentException("target " + targets[i] + " at position " + i
                        + " is outside the vocabulary [0, " + shape.vocabSize() + ") and is not −1 (ignored)");
        // The LM head and the loss in chunks of rows: the logits are never all materialized.
        return tape.linearCrossEntropy(finalHidden(tape, inputs, batch, seq), tape.param(lmHead), targets, lossScale);
    }

    /** Logits [batch·seq, vocab] (a non-recording tape is fine). Quantized weights are prepared once per call. */
    public Var logits(Tape tape, int[] inputs, int batch, int seq) {
        return tape.linear(finalHidden(tape, inputs, batch, seq), tape.param(lmHead));
    }

    /** The final norm's output [batch·seq, hidden]: what the LM head multiplies. */
    private Var finalHidden(Tape tape, int[] inputs, int batch, int seq) {
        checkTokens(inputs, batch, seq, "inputs");
        PreparedWeights w = PreparedWeights.onTape(this, tape);
        Var x = tape.embedding(tape.param(embedding), inputs);
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            Linear.Prepared[] pw = w.layer(i);
            Tape.Block block = (t, in) -> block(t, in, l, pw, batch, seq);
            x = i < checkpointedBlocks ? tape.checkpoint(x, block) : block.apply(tape, x);
        }
        return tape.rmsnorm(x, tape.param(finalNorm), shape.rmsEps());
    }

    /** One transformer block on the residual stream x (training and full-sequence forward). */
    private Var block(Tape tape, Var x, Layer l, Linear.Prepared[] pw, int batch, int seq) {
        Var h = quantizeActivations(tape, tape.rmsnorm(x, tape.param(l.inputNorm), shape.rmsEps()));
        Var q = l.q.forward(tape, h, pw[0]);
        Var k = l.k.forward(tape, h, pw[1]);
        Var v = l.v.forward(tape, h, pw[2]);
        q = tape.rope(q, seq, shape.heads(), shape.headDim(), shape.ropeTheta(), 0);
        k = quantizeKv(tape, tape.rope(k, seq, shape.heads(), shape.headDim(), shape.ropeTheta(), 0));
        v = quantizeKv(tape, v);
        Var a = quantizeActivations(tape, tape.attention(q, k, v, batch, seq, shape.heads(), shape.headDim()));
        x = tape.add(x, l.o.forward(tape, a, pw[3]));
        return mlp(tape, x, l, pw);
    }

    /**
     * Runs {@code tokens} (one sequence) at positions cache.length() … on a non-recording tape, appending
     * their keys and values to the cache; returns the logits of the last token only [1, vocab].
     */
    public Var decode(Tape tape, int[] tokens, KvCache cache, PreparedWeights w) {
        return decode(tape, tokens, cache, w, false);
    }

    /**
     * As {@link #decode}, but returns the logits of every one of the n tokens [n, vocab], row j the
     * distribution of the token after tokens[j] (scoring continuations from a cached prefix needs them all).
     */
    public Var decodeAll(Tape tape, int[] tokens, KvCache cache, PreparedWeights w) {
        return decode(tape, tokens, cache, w, true);
    }

    private Var decode(Tape tape, int[] tokens, KvCache cache, PreparedWeights w, boolean allPositions) {
        if (tape.recording()) throw new IllegalArgumentException("cached decoding runs on a non-recording tape");
        int n = tokens.length, pos = cache.length();
        if (n == 0) throw new IllegalArgumentException("no tokens to decode");
        if (pos + n > cache.capacity())
            throw new IllegalArgumentException(pos + " cached + " + n + " new positions exceed the cache capacity " + cache.capacity());
        checkTokens(tokens, 1, n, "tokens");
        int heads = shape.heads(), hd = shape.headDim();
        Var x = tape.embedding(tape.param(embedding), tokens);
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            Linear.Prepared[] pw = w.layer(i);
            Var h = quantizeActivations(tape, tape.rmsnorm(x, tape.param(l.inputNorm), shape.rmsEps()));
            Var q = tape.rope(l.q.forward(tape, h, pw[0]), n, heads, hd, shape.ropeTheta(), pos);
            Var k = quantizeKv(tape, tape.rope(l.k.forward(tape, h, pw[1]), n, heads, hd, shape.ropeTheta(), pos));
            Var v = quantizeKv(tape, l.v.forward(tape, h, pw[2]));
            backend.copy(k.value, cache.keys(i, pos, pos + n));
            backend.copy(v.value, cache.values(i, pos, pos + n));
            // Queries at pos…pos+n−1 against every cached position 0…pos+n−1 (the backend's causal offset).
            Tensor out = tape.temp(n, shape.hidden());
            Tensor lse = tape.temp(1, heads, n);
            backend.attention(q.value, cache.keys(i, 0, pos + n), cache.values(i, 0, pos + n), 1, n, pos + n,
                    heads, hd, out, lse);
            Var a = quantizeActivations(tape, tape.constant(out));
            x = tape.add(x, l.o.forward(tape, a, pw[3]));
            x = mlp(tape, x, l, pw);
        }
        cache.advance(n);
        if (allPositions) return head(tape, x);
        Var last = tape.constant(x.value.slice(n - 1, n));
        return head(tape, last);
    }

    private Var mlp(Tape tape, Var x, Layer l, Linear.Prepared[] pw) {
        Var h = quantizeActivations(tape, tape.rmsnorm(x, tape.param(l.postNorm), shape.rmsEps()));
        Var g = l.gate.forward(tape, h, pw[4]);
        Var u = l.up.forward(tape, h, pw[5]);
        Var m = quantizeActivations(tape, tape.swiglu(g, u));
        return tape.add(x, l.down.forward(tape, m, pw[6]));
    }

    /** Final norm and the float LM head. */
    private Var head(Tape tape, Var x) {
        Var n = tape.rmsnorm(x, tape.param(finalNorm), shape.rmsEps());
        return tape.linear(n, tape.param(lmHead));
    }

    private Var quantizeActivations(Tape tape, Var x) {
        int bits = precision.activationBits();
        return bits == 0 ? x : tape.quantizeTokens(x, bits);
    }

    private Var quantizeKv(Tape tape, Var x) {
        int bits = precision.kvBits();
        return bits == 0 ? x : tape.quantizeTokens(x, bits);
    }

    private void checkTokens(int[] ids, int batch, int seq, String what) {
        if (batch < 1 || seq < 1) throw new IllegalArgumentException("batch and seq must be positive, got " + batch + "×" + seq);
        if (seq > shape.contextLength())
            throw new IllegalArgumentException("sequence of " + seq + " tokens exceeds the context length " + shape.contextLength());
        if (ids.length != (long) batch * seq)
            throw new IllegalArgumentException(what + " has " + ids.length + " ids, expected batch·seq = " + batch + "·" + seq);
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] >= shape.vocabSize())
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " of " + what
                        + " is outside the vocabulary [0, " + shape.vocabSize() + ")");
    }

    List<Layer> layers() { return layers; }

    @Override
    public void close() {
        for (Parameter p : parameters) p.close();
    }
}
