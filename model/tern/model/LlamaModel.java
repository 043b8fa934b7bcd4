package tern.model;

import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.runtime.ShardAxis;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;
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
 *
 * <p>One block forward ({@link #block}) serves every use: training and scoring ({@link #logits}, whole
 * sequences), cached decoding of one sequence ({@link #decode}), a batched decode step of several
 * sequences each with its own cache and position ({@link #decodeBatch}), and GPTQ's calibration (a
 * {@link BlockObserver} sees every linear's input). A model is either trained (float latent weights,
 * {@link Parameter}s) or served ({@link #served}: read-only tensors and packed ternary weights from a
 * packed model file, on any backend).
 */
public final class LlamaModel implements AutoCloseable {
    private final Backend backend;
    private final LlamaConfig shape;
    private Precision precision;
    private int checkpointedBlocks;
    private final Weight embedding, finalNorm, lmHead;
    private final List<Layer> layers = new ArrayList<>();
    private final List<Parameter> parameters = new ArrayList<>();
    private final Map<String, Parameter> byName = new LinkedHashMap<>();
    private final AutoCloseable servedFrom;     // what a served model's tensors live in (closed last), else null
    private final TensorParallel tp;            // this rank's slice of the block linears (NONE: whole)

    /** A float weight: a trainable parameter, or a tensor served read-only (owned by the model). */
    private record Weight(Parameter parameter, Tensor served) {
        Var on(Tape tape) { return parameter != null ? tape.param(parameter) : tape.constant(served); }
    }

    /** One transformer block's parameters. */
    record Layer(Weight inputNorm, Linear q, Linear k, Linear v, Linear o,
                 Weight postNorm, Linear gate, Linear up, Linear down) {
        Linear[] linears() { return new Linear[]{q, k, v, o, gate, up, down}; }
    }

    /** The tensors of a served model: a packed file's, or synthetic ones for a benchmark. */
    public interface WeightSource {
        /** A float tensor on the backend's device (a CPU backend may take f16 for the embedding and LM head). */
        Tensor floats(String hfName, int... shape);

        /** Packed ternary weights [rows, cols] for {@link Backend#ternaryMatmul} ({@link Backend#loadTernary}). */
        TernaryWeights ternary(String hfName, int rows, int cols, ShardAxis axis);
    }

    /** Hugging Face names of a block's linears, q, k, v, o, gate, up, down, after "model.layers.N.". */
    static final String[] LINEARS = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

    /** o and down are row-parallel in Megatron/GPT-NeoX: their shards cut the columns. */
    static ShardAxis shardAxis(int linear) { return linear == 3 || linear == 6 ? ShardAxis.COLS : ShardAxis.ROWS; }

    /** Allocates zeroed parameters; call {@link #initialize} or load a checkpoint into them. */
    public LlamaModel(Backend backend, LlamaConfig config) {
        this(backend, config, TensorParallel.NONE);
    }

    /**
     * Allocates zeroed parameters holding this rank's slice of every block linear ({@link TensorParallel});
     * load them with {@link TensorParallel#loadSlices}. Such a model trains and scores whole sequences; it
     * does not decode from a KV cache.
     */
    public LlamaModel(Backend backend, LlamaConfig config, TensorParallel tp) {
        tp.check(config);
        this.backend = backend;
        this.shape = config;
        this.precision = config.precision();
        this.servedFrom = null;
        this.tp = tp;
        int h = config.hidden(), ffn = config.intermediate();
        embedding = add("model.embed_tokens.weight", true, config.vocabSize(), h);
        for (int i = 0; i < config.layers(); i++) {
            String p = "model.layers." + i + ".";
            // Hugging Face's state-dict order within a layer: attention, MLP, then the two norms.
            Linear[] l = new Linear[7];
            for (int j = 0; j < 7; j++)
                l[j] = new Linear(add(p + LINEARS[j] + ".weight", true, outOf(j), inOf(j)).parameter(), shardAxis(j));
            Weight inNorm = add(p + "input_layernorm.weight", false, h);
            Weight postNorm = add(p + "post_attention_layernorm.weight", false, h);
            layers.add(new Layer(inNorm, l[0], l[1], l[2], l[3], postNorm, l[4], l[5], l[6]));
        }
        finalNorm = add("model.norm.weight", false, h);
        lmHead = add("lm_head.weight", true, config.vocabSize(), h);
    }

    private LlamaModel(Backend backend, LlamaConfig config, WeightSource source, AutoCloseable owner) {
        if (!(config.precision().weights() instanceof LinearPolicy.Ternary))
            throw new IllegalArgumentException("a served model has packed ternary block linears; this config's are " + config.precision().weights().label());
        this.backend = backend;
        this.shape = config;
        this.precision = config.precision();
        this.servedFrom = owner;
        this.tp = TensorParallel.NONE;
        int h = config.hidden();
        try {
            embedding = new Weight(null, source.floats("model.embed_tokens.weight", config.vocabSize(), h));
            for (int i = 0; i < config.layers(); i++) {
                String p = "model.layers." + i + ".";
                Linear[] l = new Linear[7];
                for (int j = 0; j < 7; j++)
                    l[j] = new Linear(p + LINEARS[j] + ".weight", source.ternary(p + LINEARS[j] + ".weight", outOf(j), inOf(j), shardAxis(j)), shardAxis(j));
                layers.add(new Layer(new Weight(null, source.floats(p + "input_layernorm.weight", h)), l[0], l[1], l[2], l[3],
                        new Weight(null, source.floats(p + "post_attention_layernorm.weight", h)), l[4], l[5], l[6]));
            }
            finalNorm = new Weight(null, source.floats("model.norm.weight", h));
            lmHead = new Weight(null, source.floats("lm_head.weight", config.vocabSize(), h));
        } catch (RuntimeException e) {
            closeServed(false);                  // what was loaded so far; the owner stays the caller's
            throw e;
        }
    }

    /**
     * An inference-only model over {@code source}'s tensors (packed ternary block linears, float embedding,
     * norms and head) on {@code backend}; closing it closes {@code owner} (e.g. the mapped file) last.
     */
    public static LlamaModel served(Backend backend, LlamaConfig config, WeightSource source, AutoCloseable owner) {
        return new LlamaModel(backend, config, source, owner);
    }

    private int outOf(int linear) {
        int whole = linear == 6 || linear < 4 ? shape.hidden() : shape.intermediate();
        return shardAxis(linear) == ShardAxis.ROWS ? whole / tp.ranks() : whole;
    }

    private int inOf(int linear) {
        int whole = linear == 6 ? shape.intermediate() : shape.hidden();
        return shardAxis(linear) == ShardAxis.COLS ? whole / tp.ranks() : whole;
    }

    /** How tensor parallelism cuts the parameter named {@code hfName}: null when it is replicated. */
    static ShardAxis tensorParallelAxis(String hfName) {
        for (int j = 0; j < LINEARS.length; j++)
            if (hfName.startsWith("model.layers.") && hfName.endsWith("." + LINEARS[j] + ".weight")) return shardAxis(j);
        return null;
    }

    /** This model's tensor parallelism (NONE for a whole model). */
    public TensorParallel tensorParallel() { return tp; }

    /** The policy this model's block linears use: the precision's, with a ternary matrix's shards per slice. */
    LinearPolicy localPolicy() { return tp.localPolicy(precision.weights()); }

    private Weight add(String name, boolean decay, int... dims) {
        Parameter p = Parameter.create(backend, name, decay, dims);
        parameters.add(p);
        byName.put(name, p);
        return new Weight(p, null);
    }

    // ---- parameters and settings ---------------------------------------------------------------------------

    /** Every parameter in Hugging Face order (none for a served model). */
    public List<Parameter> parameters() { return Collections.unmodifiableList(parameters); }

    public Parameter parameter(String hfName) {
        if (servedFrom != null)
            throw new IllegalStateException("this model is served from packed weights: it has no trainable parameter '" + hfName + "'");
        Parameter p = byName.get(hfName);
        if (p == null)
            throw new IllegalArgumentException("no parameter named '" + hfName + "' in this " + shape.layers()
                    + "-layer Llama (names look like model.layers.0.self_attn.q_proj.weight, lm_head.weight)");
        return p;
    }

    public Backend backend() { return backend; }

    /**
     * A float weight by Hugging Face name (the embedding, a norm gain, the LM head): a served model's tensor
     * or a trained parameter's value. For decoders that run a whole step themselves (tern.cuda's
     * CudaGraphDecodeStep), which read the weights this model's forward reads.
     */
    public Tensor floatWeight(String hfName) {
        Weight w = switch (hfName) {
            case "model.embed_tokens.weight" -> embedding;
            case "model.norm.weight" -> finalNorm;
            case "lm_head.weight" -> lmHead;
            default -> {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("model\\.layers\\.(\\d+)\\.(input|post_attention)_layernorm\\.weight").matcher(hfName);
                int layer = m.matches() ? Integer.parseInt(m.group(1)) : -1;
                if (layer < 0 || layer >= layers.size())
                    throw new IllegalArgumentException("no float weight '" + hfName + "' in this " + layers.size() + "-layer Llama");
                yield m.group(2).equals("input") ? layers.get(layer).inputNorm : layers.get(layer).postNorm;
            }
        };
        return w.parameter != null ? w.parameter.value : w.served;
    }

    /** True when the model serves packed weights (inference only). */
    public boolean served() { return servedFrom != null; }

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
    public void setPrecision(Precision p) {
        if (servedFrom != null && !p.weights().equals(precision.weights()))
            throw new IllegalStateException("a served model's block linears are packed " + precision.weights().label() + "; they cannot become " + p.weights().label());
        this.precision = shape.withPrecision(p).precision();
    }

    /** Switches the block linears' weight policy, e.g. float → ternary mid-run; λ is kept. */
    public void setPolicy(LinearPolicy policy) { setPrecision(precision.withWeights(policy)); }

    /** Continual QAT: W_used = W + λ·(Q(W) − W). */
    public void setPhaseIn(float lambda) { setPrecision(precision.withPhaseIn(lambda)); }

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

    /**
     * Seeded initialization, reproducible across JVMs: every 2-D weight ~ N(0, 0.02²) (the released Spectra
     * configs' initializer_range and transformers' Llama default), every norm gain 1. Each parameter draws
     * from its own sub-stream of {@code seed}, so the values do not depend on initialization order.
     */
    public void initialize(long seed) {
        if (servedFrom != null) throw new IllegalStateException("a served model's weights are read-only");
        for (int i = 0; i < parameters.size(); i++) {
            Parameter p = parameters.get(i);
            ShardAxis sliced = tp.ranks() > 1 ? tensorParallelAxis(p.name) : null;
            if (p.value.rank() == 1) {
                backend.fill(p.value, 1f);
            } else if (sliced != null) {
                fillNormalSlice(p.value, sliced, SeededRandom.derive(seed, i), 0.02);
            } else {
                fillNormal(p.value, SeededRandom.derive(seed, i), 0.02);
            }
            p.zeroGrad(backend);
        }
    }

    /**
     * This rank's slice of the matrix {@link #fillNormal} would draw for the whole model (the same draws in
     * the same order), so a tensor-parallel model starts where the whole one does.
     */
    private void fillNormalSlice(Tensor t, ShardAxis axis, SeededRandom rng, double std) {
        int rows = t.dim(0) * (axis == ShardAxis.ROWS ? tp.ranks() : 1), cols = t.dim(1) * (axis == ShardAxis.COLS ? tp.ranks() : 1);
        float[] whole = new float[rows * cols];
        for (int j = 0; j < whole.length; j++) whole[j] = (float) (std * rng.nextGaussian());
        try (Tensor mine = backend.upload(TensorParallel.slice(whole, rows, cols, axis, tp.rank(), tp.ranks()), t.shape())) {
            backend.copy(mine, t);
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
        return (float) lossLater(tape, inputs, targets, batch, seq, lossScale).getAsDouble();
    }

    /**
     * {@link #loss} read when the supplier is asked: a training step replayed as a graph
     * ({@link tern.runtime.StepReplay}) has its loss only after the replay. The same value.
     */
    public java.util.function.DoubleSupplier lossLater(Tape tape, int[] inputs, int[] targets, int batch, int seq, float lossScale) {
        checkTokens(inputs, batch, seq, "inputs");
        if (targets.length != inputs.length)
            throw new IllegalArgumentException(targets.length + " targets for " + inputs.length + " inputs");
        for (int i = 0; i < targets.length; i++)
            if (targets[i] < -1 || targets[i] >= shape.vocabSize())
                throw new IllegalArgumentException("target " + targets[i] + " at position " + i
                        + " is outside the vocabulary [0, " + shape.vocabSize() + ") and is not −1 (ignored)");
        // The LM head and the loss in chunks of rows: the logits are never all materialized.
        return tape.linearCrossEntropyLater(finalHidden(tape, inputs, batch, seq), lmHead.on(tape), targets, lossScale);
    }

    /** Logits [batch·seq, vocab] (a non-recording tape is fine). Quantized weights are prepared once per call. */
    public Var logits(Tape tape, int[] inputs, int batch, int seq) {
        return tape.linear(finalHidden(tape, inputs, batch, seq), lmHead.on(tape));
    }

    /** The final norm's output [batch·seq, hidden]: what the LM head multiplies. */
    private Var finalHidden(Tape tape, int[] inputs, int batch, int seq) {
        return tape.rmsnorm(hidden(tape, inputs, batch, seq, layers.size() - 1, null), finalNorm.on(tape), shape.rmsEps());
    }

    /** The inputs of a block's linears, as a {@link BlockObserver} sees them. */
    public enum LinearInput {
        /** The normed block input: q, k and v read it. */ ATTENTION,
        /** The attention output: o reads it. */ ATTENTION_OUT,
        /** The normed residual after attention: gate and up read it. */ MLP,
        /** The SwiGLU output: down reads it. */ MLP_DOWN
    }

    /** Sees every block linear's input during a forward pass (GPTQ's calibration accumulates XᵀX from them). */
    @FunctionalInterface
    public interface BlockObserver {
        void observe(int layer, LinearInput which, Var input);
    }

    /**
     * The residual stream [batch·seq, hidden] after blocks 0 … {@code lastLayer} of whole sequences (no
     * cache; positions from 0), reporting each block's linear inputs to {@code observer} (may be null).
     */
    public Var hidden(Tape tape, int[] inputs, int batch, int seq, int lastLayer, BlockObserver observer) {
        checkTokens(inputs, batch, seq, "inputs");
        if (lastLayer < 0 || lastLayer >= layers.size())
            throw new IllegalArgumentException("no block " + lastLayer + " in a " + layers.size() + "-layer model");
        PreparedWeights w = PreparedWeights.onTape(this, tape);
        Var x = tape.embedding(embedding.on(tape), inputs);
        Attend whole = new Attend.Whole(batch, seq);
        for (int i = 0; i <= lastLayer; i++) {
            int layer = i;
            Linear.Prepared[] pw = w.layer(i);
            Tape.Block block = (t, in) -> block(t, layer, in, pw, whole, observer);
            x = i < checkpointedBlocks ? tape.checkpoint(x, block) : block.apply(tape, x);
        }
        return x;
    }

    /**
     * The embedding of whole sequences [batch·seq, hidden]: the residual stream {@link #hidden} starts from.
     */
    public Var embed(Tape tape, int[] inputs, int batch, int seq) {
        checkTokens(inputs, batch, seq, "inputs");
        return tape.embedding(embedding.on(tape), inputs);
    }

    /**
     * Block {@code layer} alone on the residual stream {@code x} of whole sequences (positions from 0), the step
     * {@link #hidden} repeats: a caller that keeps the stream between blocks (GPTQ's layer-by-layer pass) runs
     * each block once instead of blocks 0 … l again for every l.
     */
    public Var blockOf(Tape tape, Var x, int batch, int seq, int layer, BlockObserver observer) {
        if (layer < 0 || layer >= layers.size())
            throw new IllegalArgumentException("no block " + layer + " in a " + layers.size() + "-layer model");
        if (x.rows() != batch * seq || x.cols() != shape.hidden())
            throw new IllegalArgumentException("block input " + x.value.describe() + " is not [" + batch + "·" + seq + ", " + shape.hidden() + "]");
        PreparedWeights w = PreparedWeights.onTape(this, tape);
        return block(tape, layer, x, w.layer(layer), new Attend.Whole(batch, seq), observer);
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

    /**
     * Runs {@code tokens} as {@link #decode} does, appending their keys and values to the cache, but stops
     * before the final norm and LM head: for prompt positions whose logits nobody reads (a one-token-at-a-time
     * prefill, whose last token alone needs them). The cache ends up exactly as {@link #decode} leaves it,
     * since the head reads the blocks' output and writes nothing back.
     */
    public void prefill(Tape tape, int[] tokens, KvCache cache, PreparedWeights w) {
        blocks(tape, tokens, cache, w);
    }

    private Var decode(Tape tape, int[] tokens, KvCache cache, PreparedWeights w, boolean allPositions) {
        Var x = blocks(tape, tokens, cache, w);
        int n = tokens.length;
        if (allPositions) return head(tape, x);
        return head(tape, tape.constant(x.value.slice(n - 1, n)));
    }

    /** The embedding and every block over {@code tokens} at positions cache.length() …; the cache advances by n. */
    private Var blocks(Tape tape, int[] tokens, KvCache cache, PreparedWeights w) {
        if (tape.recording()) throw new IllegalArgumentException("cached decoding runs on a non-recording tape");
        int n = tokens.length, pos = cache.length();
        if (n == 0) throw new IllegalArgumentException("no tokens to decode");
        if (pos + n > cache.capacity())
            throw new IllegalArgumentException(pos + " cached + " + n + " new positions exceed the cache capacity " + cache.capacity());
        checkTokens(tokens, 1, n, "tokens");
        Var x = tape.embedding(embedding.on(tape), tokens);
        Attend cached = new Attend.Cached(cache, pos, n);
        for (int i = 0; i < layers.size(); i++) x = block(tape, i, x, w.layer(i), cached, null);
        cache.advance(n);
        return x;
    }

    /**
     * One decode step of B sequences at once: tokens[b] is sequence b's next token, at position
     * caches[b].length() of its own cache (the positions may all differ). Each block's linears multiply all
     * B rows in one packed product; attention runs per sequence over its own cache. Returns the logits
     * [B, vocab], row b sequence b's; every cache advances by one. Row b equals what {@link #decode} of
     * tokens[b] alone on caches[b] gives up to f32 summation order (a product of many rows may group its
     * partial sums differently; with integer sums, as the packed int8 path has, exactly).
     */
    public Var decodeBatch(Tape tape, int[] tokens, KvCache[] caches, PreparedWeights w) {
        if (tape.recording()) throw new IllegalArgumentException("cached decoding runs on a non-recording tape");
        int b = tokens.length;
        if (b == 0 || caches.length != b)
            throw new IllegalArgumentException("a batched decode step needs one cache per token, got " + b + " tokens and " + caches.length + " caches");
        for (int i = 0; i < b; i++) {
            if (caches[i].length() + 1 > caches[i].capacity())
                throw new IllegalArgumentException("sequence " + i + ": its KV cache is full (" + caches[i].capacity() + " positions)");
            for (int j = 0; j < i; j++)
                if (caches[j] == caches[i]) throw new IllegalArgumentException("sequences " + j + " and " + i + " share one KV cache");
        }
        checkTokens(tokens, b, 1, "tokens");
        Var x = tape.embedding(embedding.on(tape), tokens);
        Attend batched = new Attend.Batched(caches);
        for (int i = 0; i < layers.size(); i++) x = block(tape, i, x, w.layer(i), batched, null);
        for (KvCache c : caches) c.advance(1);
        return head(tape, x);
    }

    /** Where a block's attention reads its keys and values. */
    private sealed interface Attend {
        /** Whole sequences of a batch, causal from position 0 (training, scoring, calibration). */
        record Whole(int batch, int seq) implements Attend {}
        /** n new tokens of one sequence at positions pos …, after the cached ones. */
        record Cached(KvCache cache, int pos, int n) implements Attend {}
        /** One new token per sequence, each at its own cache's next position. */
        record Batched(KvCache[] caches) implements Attend {}
    }

    /**
     * The one block forward: RMSNorm → q, k, v → RoPE → attention → o → +residual → RMSNorm → SwiGLU MLP →
     * +residual, with the precision's activation and KV fake quantization.
     */
    private Var block(Tape tape, int i, Var x, Linear.Prepared[] pw, Attend attend, BlockObserver observer) {
        Layer l = layers.get(i);
        Var h = quantizeActivations(tape, tape.rmsnorm(x, l.inputNorm.on(tape), shape.rmsEps()));
        if (observer != null) observer.observe(i, LinearInput.ATTENTION, h);
        Var[] qkv = Linear.forwardShared(tape, parallelInput(tape, h), new Linear[]{l.q, l.k, l.v}, new Linear.Prepared[]{pw[0], pw[1], pw[2]});
        Var a = quantizeActivations(tape, attention(tape, i, qkv[0], qkv[1], qkv[2], attend));
        if (observer != null) observer.observe(i, LinearInput.ATTENTION_OUT, a);
        Var[] sumAndNorm = tape.addRmsnorm(x, parallelOutput(tape, l.o.forward(tape, a, pw[3])), l.postNorm.on(tape), shape.rmsEps());   // one pass
        x = sumAndNorm[0];
        Var h2 = quantizeActivations(tape, sumAndNorm[1]);
        if (observer != null) observer.observe(i, LinearInput.MLP, h2);
        Var[] gu = Linear.forwardShared(tape, parallelInput(tape, h2), new Linear[]{l.gate, l.up}, new Linear.Prepared[]{pw[4], pw[5]});
        Var m = quantizeActivations(tape, tape.swiglu(gu[0], gu[1]));
        if (observer != null) observer.observe(i, LinearInput.MLP_DOWN, m);
        return tape.add(x, parallelOutput(tape, l.down.forward(tape, m, pw[6])));
    }

    /** The input of column-parallel linears: its gradient is summed over the tensor-parallel ranks. */
    private Var parallelInput(Tape tape, Var x) {
        return tp.ranks() == 1 ? x : tape.sumGradientOverRanks(x, tp.group());
    }

    /** A row-parallel linear's partial product, summed over the tensor-parallel ranks. */
    private Var parallelOutput(Tape tape, Var y) {
        return tp.ranks() == 1 ? y : tape.sumOverRanks(y, tp.group());
    }

    /** RoPE on q and k, KV quantization, then causal attention as {@code attend} says (cached K/V written). */
    private Var attention(Tape tape, int layer, Var q, Var k, Var v, Attend attend) {
        int heads = shape.heads() / tp.ranks(), hd = shape.headDim();   // this rank's heads
        if (tp.ranks() > 1 && !(attend instanceof Attend.Whole))
            throw new UnsupportedOperationException("a tensor-parallel model trains and scores whole sequences; it does not decode from a KV cache");
        float theta = shape.ropeTheta();
        switch (attend) {
            case Attend.Whole(int batch, int seq) -> {
                // Without KV quantization nothing comes between RoPE and attention: one op, which a backend may fuse.
                if (precision.kvBits() == 0) return tape.ropeAttention(q, k, v, batch, seq, heads, hd, theta);
                q = tape.rope(q, seq, heads, hd, theta, 0);
                k = quantizeKv(tape, tape.rope(k, seq, heads, hd, theta, 0));
                v = quantizeKv(tape, v);
                return tape.attention(q, k, v, batch, seq, heads, hd);
            }
            case Attend.Cached(KvCache cache, int pos, int n) -> {
                q = tape.rope(q, n, heads, hd, theta, pos);
                k = quantizeKv(tape, tape.rope(k, n, heads, hd, theta, pos));
                v = quantizeKv(tape, v);
                backend.copy(k.value, cache.keys(layer, pos, pos + n));
                backend.copy(v.value, cache.values(layer, pos, pos + n));
                // Queries at pos…pos+n−1 against every cached position 0…pos+n−1 (the backend's causal offset).
                Tensor out = tape.temp(n, shape.hidden());
                Tensor lse = tape.temp(1, heads, n);
                backend.attention(q.value, cache.keys(layer, 0, pos + n), cache.values(layer, 0, pos + n), 1, n, pos + n,
                        heads, hd, out, lse);
                return tape.constant(out);
            }
            case Attend.Batched(KvCache[] caches) -> {
                Tensor out = tape.temp(caches.length, shape.hidden());
                Tensor lse = tape.temp(caches.length, heads);
                // Rotated in place, row by row: each sequence is at its own position.
                for (int b = 0; b < caches.length; b++) {
                    int pos = caches[b].length();
                    backend.rope(q.value.slice(b, b + 1), 1, heads, hd, theta, pos, false, q.value.slice(b, b + 1));
                    backend.rope(k.value.slice(b, b + 1), 1, heads, hd, theta, pos, false, k.value.slice(b, b + 1));
                }
                k = quantizeKv(tape, k);
                v = quantizeKv(tape, v);
                Tensor[] keys = new Tensor[caches.length], values = new Tensor[caches.length];
                for (int b = 0; b < caches.length; b++) {
                    KvCache c = caches[b];
                    int pos = c.length();
                    backend.copy(k.value.slice(b, b + 1), c.keys(layer, pos, pos + 1));
                    backend.copy(v.value.slice(b, b + 1), c.values(layer, pos, pos + 1));
                    keys[b] = c.keys(layer, 0, pos + 1);
                    values[b] = c.values(layer, 0, pos + 1);
                }
                // Every sequence's row in one call (one parallel loop over rows and heads), each as if alone.
                backend.attentionDecode(q.value, keys, values, heads, hd, out, lse);
                return tape.constant(out);
            }
        }
    }

    /** Final norm and the float LM head. */
    private Var head(Tape tape, Var x) {
        Var n = tape.rmsnorm(x, finalNorm.on(tape), shape.rmsEps());
        return tape.linear(n, lmHead.on(tape));
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

    private void closeServed(boolean owner) {
        List<AutoCloseable> all = new ArrayList<>();
        for (Weight w : new Weight[]{embedding, finalNorm, lmHead}) if (w != null && w.served != null) all.add(w.served);
        for (Layer l : layers) {
            all.add(l.inputNorm.served);
            all.add(l.postNorm.served);
            all.addAll(List.of(l.linears()));
        }
        for (AutoCloseable c : all) {
            try { c.close(); } catch (Exception e) { throw new IllegalStateException("closing a served tensor: " + e.getMessage(), e); }
        }
        if (owner && servedFrom != null) {
            try { servedFrom.close(); } catch (Exception e) { throw new IllegalStateException("closing the served model's file: " + e.getMessage(), e); }
        }
    }

    @Override
    public void close() {
        for (Parameter p : parameters) p.close();
        if (servedFrom != null) closeServed(true);
    }
}
