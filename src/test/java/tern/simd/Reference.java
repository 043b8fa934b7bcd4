package tern.simd;

import tern.runtime.AdamWParams;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;

/**
 * The plain-Java reference of every CPU op, forward and backward, written straight from the math with
 * double arithmetic and no shared code with the kernels: loops in index order, every intermediate in
 * double, full score matrices where that is simplest. Fast kernels are tested against it; its backward
 * passes are themselves tested against central finite differences of its forward passes.
 *
 * <p>Matrices are row-major double arrays with explicit sizes. The quantizers take float inputs because
 * they are defined on f32 values: their scale is an f32 number and the rounding happens on the f32 quotient.
 */
public final class Reference {
    private Reference() {}

    // ---- conversions -----------------------------------------------------------------------------------

    public static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    public static float[] toFloat(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
        return f;
    }

    // ---- elementwise -----------------------------------------------------------------------------------

    public static double[] add(double[] a, double[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i] + b[i];
        return out;
    }

    /** y + alpha·x. */
    public static double[] axpy(double alpha, double[] x, double[] y) {
        double[] out = new double[y.length];
        for (int i = 0; i < y.length; i++) out[i] = y[i] + alpha * x[i];
        return out;
    }

    public static double[] scale(double[] x, double alpha) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = alpha * x[i];
        return out;
    }

    public static double sumOfSquares(double[] x) {
        double s = 0;
        for (double v : x) s += v * v;
        return s;
    }

    public static boolean allFinite(float[] x) {
        for (float v : x) if (Float.isNaN(v) || Float.isInfinite(v)) return false;
        return true;
    }

    /** op(a)·op(b) with a [m,k] (or [k,m] when transA), b [k,n] (or [n,k] when transB): c [m,n]. */
    public static double[] matmul(double[] a, boolean transA, double[] b, boolean transB, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = s;
            }
        return c;
    }

    // ---- quantizers --------------------------------------------------------------------------------------

    /** A fake-quantized matrix and its scales (one per shard or per unit). */
    public record Quantized(float[] values, float[] scales) {}

    /**
     * Absmean ternary: per shard γ = eps + mean|w| (mean in double, γ rounded to f32),
     * value = γ·clamp(rint(w/γ), −1, 1) with the quotient in f32 and rint half to even. Shard of row r
     * (axis ROWS) or column c (axis COLS) is index·shards/extent.
     */
    public static Quantized ternary(float[] w, int rows, int cols, int shards, ShardAxis axis, float eps) {
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        double[] sum = new double[shards];
        long[] count = new long[shards];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int s = (int) ((long) (axis == ShardAxis.ROWS ? r : c) * shards / extent);
                sum[s] += Math.abs((double) w[r * cols + c]);
                count[s]++;
            }
        float[] gamma = new float[shards];
        for (int s = 0; s < shards; s++) gamma[s] = (float) (eps + (count[s] == 0 ? 0 : sum[s] / count[s]));
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float g = gamma[(int) ((long) (axis == ShardAxis.ROWS ? r : c) * shards / extent)];
                double t = g == 0 ? 0 : Math.rint(w[r * cols + c] / g);
                t = Math.max(-1, Math.min(1, t));
                out[r * cols + c] = (float) (g * t);
            }
        return new Quantized(out, gamma);
    }

    /** α·sign(w), α = mean|w| per unit (the whole matrix, or each row), sign(0) = +1. */
    public static Quantized binary(float[] w, int rows, int cols, Granularity granularity) {
        int units = granularity == Granularity.TENSOR ? 1 : rows;
        float[] alpha = new float[units];
        for (int u = 0; u < units; u++) {
            int r0 = granularity == Granularity.TENSOR ? 0 : u, r1 = granularity == Granularity.TENSOR ? rows : u + 1;
            double s = 0;
            for (int r = r0; r < r1; r++) for (int c = 0; c < cols; c++) s += Math.abs((double) w[r * cols + c]);
            long n = (long) (r1 - r0) * cols;
            alpha[u] = n == 0 ? 0 : (float) (s / n);
        }
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float a = alpha[granularity == Granularity.TENSOR ? 0 : r];
                out[r * cols + c] = w[r * cols + c] < 0 ? -a : a;
            }
        return new Quantized(out, alpha);
    }

    /**
     * Symmetric k-bit: q = 2^(bits−1) − 1, s = max|x|/q per unit in f32 (1 where max|x| = 0),
     * value = s·clamp(rint(x/s), −q, q), the quotient in f32.
     */
    public static Quantized symmetric(float[] x, int rows, int cols, int bits, Granularity granularity) {
        double q = Math.pow(2, bits - 1) - 1;
        int units = granularity == Granularity.TENSOR ? 1 : rows;
        float[] scale = new float[units];
        for (int u = 0; u < units; u++) {
            int r0 = granularity == Granularity.TENSOR ? 0 : u, r1 = granularity == Granularity.TENSOR ? rows : u + 1;
            double max = 0;
            for (int r = r0; r < r1; r++) for (int c = 0; c < cols; c++) max = Math.max(max, Math.abs(x[r * cols + c]));
            scale[u] = max == 0 ? 1f : (float) max / (float) q;
        }
        float[] out = new float[x.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float s = scale[granularity == Granularity.TENSOR ? 0 : r];
                double level = Math.max(-q, Math.min(q, Math.rint(x[r * cols + c] / s)));
                out[r * cols + c] = (float) (s * level);
            }
        return new Quantized(out, scale);
    }

    // ---- embedding ---------------------------------------------------------------------------------------

    public static double[] embedding(double[] table, int dim, int[] ids) {
        double[] out = new double[ids.length * dim];
        for (int i = 0; i < ids.length; i++) System.arraycopy(table, ids[i] * dim, out, i * dim, dim);
        return out;
    }

    /** The gradient of {@link #embedding} w.r.t. a table of vocab rows: row ids[i] collects dout[i]. */
    public static double[] embeddingBackward(double[] dout, int dim, int[] ids, int vocab) {
        double[] dtable = new double[vocab * dim];
        for (int i = 0; i < ids.length; i++)
            for (int c = 0; c < dim; c++) dtable[ids[i] * dim + c] += dout[i * dim + c];
        return dtable;
    }

    // ---- RMSNorm -----------------------------------------------------------------------------------------

    public record RmsNormOut(double[] out, double[] rstd) {}

    public record RmsNormGrads(double[] dx, double[] dweight) {}

    public static RmsNormOut rmsnorm(double[] x, int rows, int cols, double[] weight, double eps) {
        double[] out = new double[rows * cols], rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int c = 0; c < cols; c++) ms += x[r * cols + c] * x[r * cols + c];
            rstd[r] = 1 / Math.sqrt(ms / cols + eps);
            for (int c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] * rstd[r] * weight[c];
        }
        return new RmsNormOut(out, rstd);
    }

    /**
     * y_j = x_j·ρ·w_j with ρ = (Σx²/n + eps)^(−1/2), ∂ρ/∂x_k = −ρ³·x_k/n, so
     * ∂L/∂x_k = Σ_j g_j·w_j·(δ_jk·ρ − x_j·ρ³·x_k/n) and ∂L/∂w_j = Σ_rows g_j·x_j·ρ.
     */
    public static RmsNormGrads rmsnormBackward(double[] dout, double[] x, int rows, int cols, double[] weight, double eps) {
        double[] dx = new double[rows * cols], dw = new double[cols];
        double[] rstd = rmsnorm(x, rows, cols, weight, eps).rstd();
        for (int r = 0; r < rows; r++) {
            double rho = rstd[r], gwx = 0;
            for (int j = 0; j < cols; j++) gwx += dout[r * cols + j] * weight[j] * x[r * cols + j];
            for (int k = 0; k < cols; k++)
                dx[r * cols + k] = dout[r * cols + k] * weight[k] * rho - rho * rho * rho * x[r * cols + k] * gwx / cols;
            for (int j = 0; j < cols; j++) dw[j] += dout[r * cols + j] * x[r * cols + j] * rho;
        }
        return new RmsNormGrads(dx, dw);
    }

    // ---- RoPE --------------------------------------------------------------------------------------------

    /**
     * Hugging Face rotate_half rotary embedding of x [rows, heads·headDim]: x·cos + rotate_half(x)·sin with
     * rotate_half(x) = [−x2, x1], cos/sin of pos·theta^(−2i/headDim) repeated over both halves,
     * pos = posOffset + row mod seq; inverse negates the angle.
     */
    public static double[] rope(double[] x, int rows, int seq, int heads, int headDim, double theta, int posOffset,
                                boolean inverse) {
        int half = headDim / 2, width = heads * headDim;
        double[] out = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double pos = posOffset + r % seq;
            for (int h = 0; h < heads; h++)
                for (int d = 0; d < headDim; d++) {
                    int i = d % half;
                    double angle = (inverse ? -1 : 1) * pos * Math.pow(theta, -2.0 * i / headDim);
                    int base = r * width + h * headDim;
                    double rotated = d < half ? -x[base + d + half] : x[base + d - half];
                    out[base + d] = x[base + d] * Math.cos(angle) + rotated * Math.sin(angle);
                }
        }
        return out;
    }

    // ---- attention ---------------------------------------------------------------------------------------

    public record AttentionOut(double[] out, double[] lse) {}

    public record AttentionGrads(double[] dq, double[] dk, double[] dv) {}

    /** The probability matrix P [qLen, kvLen] of one (batch, head), zero where masked. */
    private static double[][] probabilities(double[] q, double[] k, int b, int h, int qLen, int kvLen, int heads,
                                            int headDim, double[] lseOut) {
        int width = heads * headDim;
        double scale = 1 / Math.sqrt(headDim);
        double[][] p = new double[qLen][kvLen];
        for (int i = 0; i < qLen; i++) {
            int visible = i + kvLen - qLen + 1;
            double max = Double.NEGATIVE_INFINITY;
            double[] s = new double[visible];
            for (int j = 0; j < visible; j++) {
                double dot = 0;
                for (int d = 0; d < headDim; d++)
                    dot += q[(b * qLen + i) * width + h * headDim + d] * k[(b * kvLen + j) * width + h * headDim + d];
                s[j] = dot * scale;
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j < visible; j++) sum += Math.exp(s[j] - max);
            for (int j = 0; j < visible; j++) p[i][j] = Math.exp(s[j] - max) / sum;
            if (lseOut != null) lseOut[(b * heads + h) * qLen + i] = max + Math.log(sum);
        }
        return p;
    }

    /** softmax(q·kᵀ/√d + causal mask)·v per (batch, head); query i sees keys j ≤ i + kvLen − qLen. */
    public static AttentionOut attention(double[] q, double[] k, double[] v, int batch, int qLen, int kvLen,
                                         int heads, int headDim) {
        int width = heads * headDim;
        double[] out = new double[batch * qLen * width], lse = new double[batch * heads * qLen];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++) {
                double[][] p = probabilities(q, k, b, h, qLen, kvLen, heads, headDim, lse);
                for (int i = 0; i < qLen; i++)
                    for (int d = 0; d < headDim; d++) {
                        double s = 0;
                        for (int j = 0; j < kvLen; j++) s += p[i][j] * v[(b * kvLen + j) * width + h * headDim + d];
                        out[(b * qLen + i) * width + h * headDim + d] = s;
                    }
            }
        return new AttentionOut(out, lse);
    }

    /**
     * O = P·V, P = softmax(S), S = Q·Kᵀ/√d: dV = Pᵀ·dO; dP = dO·Vᵀ; dS_ij = P_ij·(dP_ij − Σ_l P_il·dP_il);
     * dQ = dS·K/√d; dK = dSᵀ·Q/√d.
     */
    public static AttentionGrads attentionBackward(double[] dout, double[] q, double[] k, double[] v, int batch,
                                                   int qLen, int kvLen, int heads, int headDim) {
        int width = heads * headDim;
        double scale = 1 / Math.sqrt(headDim);
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++) {
                double[][] p = probabilities(q, k, b, h, qLen, kvLen, heads, headDim, null);
                double[][] dp = new double[qLen][kvLen];
                for (int i = 0; i < qLen; i++)
                    for (int j = 0; j < kvLen; j++) {
                        double s = 0;
                        for (int d = 0; d < headDim; d++)
                            s += dout[(b * qLen + i) * width + h * headDim + d] * v[(b * kvLen + j) * width + h * headDim + d];
                        dp[i][j] = s;
                    }
                for (int i = 0; i < qLen; i++) {
                    double rowDot = 0;
                    for (int j = 0; j < kvLen; j++) rowDot += p[i][j] * dp[i][j];
                    for (int j = 0; j < kvLen; j++) {
                        double ds = p[i][j] * (dp[i][j] - rowDot);
                        for (int d = 0; d < headDim; d++) {
                            int qi = (b * qLen + i) * width + h * headDim + d, kj = (b * kvLen + j) * width + h * headDim + d;
                            dv[kj] += p[i][j] * dout[qi];
                            dq[qi] += ds * k[kj] * scale;
                            dk[kj] += ds * q[qi] * scale;
                        }
                    }
                }
            }
        return new AttentionGrads(dq, dk, dv);
    }

    // ---- SwiGLU ------------------------------------------------------------------------------------------

    public record SwiGluGrads(double[] dgate, double[] dup) {}

    private static double sigmoid(double g) {
        return 1 / (1 + Math.exp(-g));
    }

    public static double[] swiglu(double[] gate, double[] up) {
        double[] out = new double[gate.length];
        for (int i = 0; i < gate.length; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
        return out;
    }

    /** d(g·σ(g))/dg = σ(g) + g·σ(g)·(1 − σ(g)). */
    public static SwiGluGrads swigluBackward(double[] dout, double[] gate, double[] up) {
        double[] dg = new double[gate.length], du = new double[gate.length];
        for (int i = 0; i < gate.length; i++) {
            double s = sigmoid(gate[i]);
            dg[i] = dout[i] * up[i] * (s + gate[i] * s * (1 - s));
            du[i] = dout[i] * gate[i] * s;
        }
        return new SwiGluGrads(dg, du);
    }

    // ---- cross-entropy -----------------------------------------------------------------------------------

    public record CrossEntropyOut(double loss, double[] dlogits) {}

    /**
     * Mean over rows with target ≠ −1 of −log softmax(logits)[target]; dlogits is the gradient of
     * lossScale·mean (0 on ignored rows). No counted row: loss 0, gradient 0.
     */
    public static CrossEntropyOut crossEntropy(double[] logits, int rows, int vocab, int[] targets, double lossScale) {
        int count = 0;
        for (int t : targets) if (t != -1) count++;
        double total = 0;
        double[] grad = new double[rows * vocab];
        for (int r = 0; r < rows; r++) {
            if (targets[r] == -1) continue;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < vocab; c++) max = Math.max(max, logits[r * vocab + c]);
            double sum = 0;
            for (int c = 0; c < vocab; c++) sum += Math.exp(logits[r * vocab + c] - max);
            total += max + Math.log(sum) - logits[r * vocab + targets[r]];
            for (int c = 0; c < vocab; c++) {
                double softmax = Math.exp(logits[r * vocab + c] - max) / sum;
                grad[r * vocab + c] = lossScale / count * (softmax - (c == targets[r] ? 1 : 0));
            }
        }
        return new CrossEntropyOut(count == 0 ? 0 : total / count, grad);
    }

    // ---- AdamW -------------------------------------------------------------------------------------------

    public record AdamWState(double[] param, double[] m, double[] v) {}

    /** One torch.optim.AdamW step in double, as {@link AdamWParams} documents it. */
    public static AdamWState adamw(double[] param, double[] grad, double[] m, double[] v, AdamWParams p) {
        int n = param.length;
        double[] p1 = new double[n], m1 = new double[n], v1 = new double[n];
        double bias1 = 1 - Math.pow(p.beta1(), p.step()), bias2 = 1 - Math.pow(p.beta2(), p.step());
        for (int i = 0; i < n; i++) {
            double g = grad[i] * p.gradScale();
            double decayed = param[i] * (1 - (double) p.lr() * p.weightDecay());
            m1[i] = p.beta1() * m[i] + (1 - (double) p.beta1()) * g;
            v1[i] = p.beta2() * v[i] + (1 - (double) p.beta2()) * g * g;
            double mHat = m1[i] / bias1, vHat = v1[i] / bias2;
            p1[i] = decayed - p.lr() * mHat / (Math.sqrt(vHat) + p.eps());
        }
        return new AdamWState(p1, m1, v1);
    }
}
