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

    /** Runs every sequence through blocks 0 … {@code layer} and accumulates that block's Hessians. */
    public BlockHessians hessians(Sequences calib, int layer) {
        if (layer < 0 || layer >= shape.layers()) throw new IllegalArgumentException("no block " + layer + " in a " + shape.layers() + "-layer model");
        int h = shape.hidden(), f = shape.intermediate();
        double[] attn = new double[h * h], attnOut = new double[h * h], mlp = new double[h * h], down = new double[f * f];
        long tokens = 0;
        for (int[] row : calib.rows()) {
            try (Tape tape = new Tape(backend, false)) {
                Capture c = new Capture(backend, attn, attnOut, mlp, down, layer);
                forward(tape, row, 1, calib.seqLen(), layer, c);
            }
            tokens += calib.seqLen();
        }
        double s = 2.0 / tokens;                                  // H = 2·XᵀX / n
        for (double[] m : List.of(attn, attnOut, mlp, down))
            for (int i = 0; i < m.length; i++) m[i] *= s;
        return new BlockHessians(attn, attnOut, mlp, down, tokens);
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
    private record Capture(Backend backend, double[] attn, double[] attnOut, double[] mlp, double[] down, int layer) implements LlamaModel.BlockObserver {
        @Override public void observe(int i, LlamaModel.LinearInput which, Var input) {
            if (i != layer) return;
            accumulate(backend, input, switch (which) {
                case ATTENTION -> attn;
                case ATTENTION_OUT -> attnOut;
                case MLP -> mlp;
                case MLP_DOWN -> down;
            });
        }
    }

    private Var forward(Tape tape, int[] inputs, int batch, int seq, int lastLayer, Capture capture) {
        return model.hidden(tape, inputs, batch, seq, lastLayer, capture);
    }

    /** sum += XᵀX for X [n, d] (upper triangle, then mirrored), in double. */
    private static void accumulate(Backend backend, Var x, double[] sum) {
        float[] v = backend.download(x.value);
        int d = x.cols(), n = x.rows();
        for (int t = 0; t < n; t++) {
            int base = t * d;
            for (int i = 0; i < d; i++) {
                double xi = v[base + i];
                if (xi == 0) continue;
                int row = i * d;
                for (int j = i; j < d; j++) sum[row + j] += xi * v[base + j];
            }
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < i; j++) sum[i * d + j] = sum[j * d + i];
    }
}
