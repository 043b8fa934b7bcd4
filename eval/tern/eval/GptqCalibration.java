package tern.eval;

import java.util.List;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.Tape;
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
public final class GptqCalibration {
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

    /** Runs every sequence through blocks 0 … {@code layer} and accumulates that block's Hessians (XᵀX as backend products). */
    public BlockHessians hessians(Sequences calib, int layer) {
        if (layer < 0 || layer >= shape.layers()) throw new IllegalArgumentException("no block " + layer + " in a " + shape.layers() + "-layer model");
        int h = shape.hidden(), f = shape.intermediate();
        int seq = calib.seqLen(), perForward = Math.max(1, TOKENS_PER_FORWARD / seq);
        try (HessianSum attn = new HessianSum(backend, h); HessianSum attnOut = new HessianSum(backend, h);
             HessianSum mlp = new HessianSum(backend, h); HessianSum down = new HessianSum(backend, f)) {
            long tokens = 0;
            List<int[]> rows = calib.rows();
            for (int from = 0; from < rows.size(); from += perForward) {
                int n = Math.min(perForward, rows.size() - from);
                int[] ids = new int[n * seq];
                for (int r = 0; r < n; r++) System.arraycopy(rows.get(from + r), 0, ids, r * seq, seq);
                try (Tape tape = new Tape(backend, false)) {
                    forward(tape, ids, n, seq, layer, new Capture(attn, attnOut, mlp, down, layer));
                }
                tokens += (long) n * seq;
            }
            double s = 2.0 / tokens;                                  // H = 2·XᵀX / n
            return new BlockHessians(attn.toHost(s), attnOut.toHost(s), mlp.toHost(s), down.toHost(s), tokens);
        }
    }

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
