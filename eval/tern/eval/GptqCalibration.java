package tern.eval;

import java.util.ArrayList;
import java.util.List;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.runtime.Var;

/**
 * Collects GPTQ's per-layer Hessians H = 2·XᵀX/n by running calibration sequences through a float Llama
 * up to one block and capturing that block's linear inputs: the attention input (shared by q, k, v), the
 * attention output (o's input), the MLP input (gate, up) and the SwiGLU output (down's input). Blocks
 * already quantized feed their quantized outputs forward, as in GPTQ's sequential layer-by-layer pass.
 *
 * <p>The forward is LlamaModel's one block forward ({@link LlamaModel#hidden}) with a
 * {@link LlamaModel.BlockObserver} that captures the inputs; {@link #logits} runs it to the end so a test can
 * check it against {@link LlamaModel#logits}.
 */
public final class GptqCalibration implements AutoCloseable {
    /** Hessians [in, in] (row-major) of one block's four distinct linear inputs. */
    public record BlockHessians(double[] attention, double[] attentionOut, double[] mlp, double[] mlpDown, long tokens) {
        /** The Hessian of linear {@code k} of the block, in q, k, v, o, gate, up, down order. */
        public double[] forLinear(int k) {
            return switch (k) {
                case 0, 1, 2 -> attention;
                case 3 -> attentionOut;
                case 4, 5 -> mlp;
                case 6 -> mlpDown;
                default -> throw new IllegalArgumentException("a block has 7 linears, no index " + k);
            };
        }
    }

    /** Calibration sequences: token windows of one length (each row of a batch one sequence). */
    public record Sequences(List<int[]> rows, int seqLen) {}

    private final LlamaModel model;
    private final LlamaConfig shape;
    private final Backend backend;

    public GptqCalibration(LlamaModel model) {
        if (model.precision().weights().quantized() || model.precision().activationBits() != 0 || model.precision().kvBits() != 0)
            throw new IllegalArgumentException("post-training quantization starts from a float model (FloatLM); this one is "
                    + model.precision().weights().label() + " with activation bits " + model.precision().activationBits());
        this.model = model;
        this.shape = model.config();
        this.backend = model.backend();
    }

    /** Tokens per calibration forward: several sequences go through the blocks at once (one product per Hessian and batch). */
    static final int TOKENS_PER_FORWARD = 16384;

    /**
     * The residual stream entering block {@link #streamLayer} for each chunk of {@link #streamOf}'s rows, kept
     * between calls: GPTQ asks for the blocks in order, each after the one before was quantized, so block l's
     * input is block l−1 (as quantized now) run once on the kept stream, not blocks 0 … l−1 again.
     */
    private final List<Tensor> stream = new ArrayList<>();
    private Sequences streamOf;
    private int streamLayer = -1;

    /**
     * Accumulates block {@code layer}'s Hessians (XᵀX as backend products) over every sequence, several
     * sequences per forward. Asked for in order 0, 1, 2 … on the same sequences, each block runs once; any
     * other order runs blocks 0 … {@code layer} from the embedding, with the same result.
     */
    public BlockHessians hessians(Sequences calib, int layer) {
        if (layer < 0 || layer >= shape.layers()) throw new IllegalArgumentException("no block " + layer + " in a " + shape.layers() + "-layer model");
        int h = shape.hidden(), f = shape.intermediate();
        int seq = calib.seqLen(), perForward = Math.max(1, TOKENS_PER_FORWARD / seq);
        boolean continues = streamOf == calib && streamLayer == layer - 1 && layer > 0;
        if (!continues) dropStream();
        try (HessianSum attn = new HessianSum(backend, h); HessianSum attnOut = new HessianSum(backend, h);
             HessianSum mlp = new HessianSum(backend, h); HessianSum down = new HessianSum(backend, f)) {
            long tokens = 0;
            List<int[]> rows = calib.rows();
            Capture capture = new Capture(attn, attnOut, mlp, down, layer);
            for (int from = 0, chunk = 0; from < rows.size(); from += perForward, chunk++) {
                int n = Math.min(perForward, rows.size() - from);
                try (Tape tape = new Tape(backend, false)) {
                    Var x;
                    if (continues) {
                        x = model.blockOf(tape, tape.constant(stream.get(chunk)), n, seq, layer - 1, null);
                    } else {
                        int[] ids = new int[n * seq];
                        for (int r = 0; r < n; r++) System.arraycopy(rows.get(from + r), 0, ids, r * seq, seq);
                        x = layer == 0 ? model.embed(tape, ids, n, seq) : forward(tape, ids, n, seq, layer - 1, null);
                    }
                    model.blockOf(tape, x, n, seq, layer, capture);
                    keep(chunk, x);
                }
                tokens += (long) n * seq;
            }
            streamOf = calib;
            streamLayer = layer;
            double s = 2.0 / tokens;                                  // H = 2·XᵀX / n
            return new BlockHessians(attn.toHost(s), attnOut.toHost(s), mlp.toHost(s), down.toHost(s), tokens);
        }
    }

    /** Keeps chunk {@code i}'s block input beyond the tape that computed it. */
    private void keep(int i, Var x) {
        if (i == stream.size()) stream.add(backend.zeros(tern.runtime.DType.F32, x.rows(), x.cols()));
        backend.copy(x.value, stream.get(i));
    }

    private void dropStream() {
        for (Tensor t : stream) t.close();
        stream.clear();
        streamOf = null;
        streamLayer = -1;
    }

    /** Frees the kept residual streams. */
    @Override
    public void close() { dropStream(); }

    /** The float logits [batch·seq, vocab] by this class's forward (equals LlamaModel.logits). */
    public float[] logits(int[] inputs, int batch, int seq) {
        try (Tape tape = new Tape(backend, false)) {
            Var x = forward(tape, inputs, batch, seq, shape.layers() - 1, null);
            Var n = tape.rmsnorm(x, tape.param(model.parameter("model.norm.weight")), shape.rmsEps());
            return backend.download(tape.linear(n, tape.param(model.parameter("lm_head.weight"))).value);
        }
    }

    /** Which block's inputs to add up, into which sums: LlamaModel's block forward reports them. */
    private record Capture(HessianSum attn, HessianSum attnOut, HessianSum mlp, HessianSum down, int layer) implements LlamaModel.BlockObserver {
        @Override public void observe(int i, LlamaModel.LinearInput which, Var input) {
            if (i != layer) return;
            (switch (which) {
                case ATTENTION -> attn;
                case ATTENTION_OUT -> attnOut;
                case MLP -> mlp;
                case MLP_DOWN -> down;
            }).add(input.value);       // sum += XᵀX for X [n, d], a backend product
        }
    }

    private Var forward(Tape tape, int[] inputs, int batch, int seq, int lastLayer, Capture capture) {
        return model.hidden(tape, inputs, batch, seq, lastLayer, capture);
    }
}
