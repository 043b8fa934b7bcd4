package tern.eval;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tern.checkpoint.AtomicFiles;
import tern.checkpoint.Json;
import tern.checkpoint.Safetensors;
import tern.model.HfConfig;
import tern.model.Linear;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.runtime.Tensor;

/**
 * Post-training quantization of a FloatLM into a QuantLM (Spectra's third family): every block linear
 * (q, k, v, o, gate, up, down) quantized to k bits with per-group grids by round-to-nearest or GPTQ; the
 * embedding, LM head and norms stay float, as in Spectra's QuantLMs. Blocks are done in order, and GPTQ
 * calibrates each block on the outputs of the blocks already quantized (its sequential pass).
 *
 * <p>The written checkpoint holds the dequantized weights in f32 (so every loader, ours and transformers',
 * reads it as a plain Llama), and beside them {@code quant_codes.safetensors} with the integer codes (I8,
 * stored as code − 2^(k−1) for k ≤ 8), the scales and the zero points of every group.
 */
public final class Quantize {
    public enum Method { RTN, GPTQ }

    /** What was done, per linear: relative calibration error ‖XΔWᵀ‖²/‖XWᵀ‖² when a Hessian was at hand. */
    public record LayerReport(String name, int rows, int cols, double relativeError) {}

    public record Report(Method method, int bits, int group, boolean symmetric, long calibrationTokens,
                         List<LayerReport> layers, Map<String, QuantizeResult> results) {}

    private Quantize() {}

    /**
     * Quantizes the model's block linears in place. {@code calib} may be null for RTN (then no errors are
     * reported); GPTQ needs it.
     */
    public static Report run(LlamaModel model, Method method, int bits, int group, boolean symmetric,
                             GptqCalibration.Sequences calib, java.io.PrintStream console) {
        if (method == Method.GPTQ && (calib == null || calib.rows().isEmpty()))
            throw new IllegalArgumentException("GPTQ needs calibration sequences");
        Backend backend = model.backend();
        try (GptqCalibration calibration = new GptqCalibration(model)) {
            return run(model, method, bits, group, symmetric, calib, console, calibration);
        }
    }

    private static Report run(LlamaModel model, Method method, int bits, int group, boolean symmetric,
                              GptqCalibration.Sequences calib, java.io.PrintStream console, GptqCalibration calibration) {
        Backend backend = model.backend();
        List<Linear> linears = model.blockLinears();
        int layers = model.config().layers();
        List<LayerReport> reports = new ArrayList<>();
        Map<String, QuantizeResult> results = new LinkedHashMap<>();
        long tokens = 0;
        for (int l = 0; l < layers; l++) {
            GptqCalibration.BlockHessians hs = calib == null ? null : calibration.hessians(calib, l);
            if (hs != null) tokens = hs.tokens();
            // q, k, v (and gate, up) read one input: one dampened inverse factor serves them all
            Map<double[], Gptq.Prepared> prepared = new java.util.IdentityHashMap<>();
            for (int k = 0; k < 7; k++) {
                Linear lin = linears.get(l * 7 + k);
                Parameter p = lin.weight();
                int rows = lin.outFeatures(), cols = lin.inFeatures();
                float[] w = backend.download(p.value);
                double[] h = hs == null ? null : hs.forLinear(k);
                QuantizeResult q = method == Method.GPTQ
                        ? Gptq.quantize(backend, w, rows, cols, prepared.computeIfAbsent(h, x -> Gptq.prepare(x, cols)), bits, group, symmetric)
                        : Rtn.quantize(w, rows, cols, bits, group, symmetric);
                double rel = h == null ? Double.NaN : relativeError(backend, w, q.dequantized(), rows, cols, h);
                try (Tensor up = backend.upload(q.dequantized(), rows, cols)) {
                    backend.copy(up, p.value);
                }
                reports.add(new LayerReport(p.name, rows, cols, rel));
                results.put(p.name, q);
            }
            if (console != null && hs != null) {
                double mean = reports.subList(reports.size() - 7, reports.size()).stream().mapToDouble(LayerReport::relativeError).average().orElse(Double.NaN);
                console.printf(Locale.ROOT, "block %d/%d quantized (%s, %d bits): mean relative output error %.3e%n", l + 1, layers, method, bits, mean);
            }
        }
        return new Report(method, bits, group, symmetric, tokens, reports, results);
    }

    /**
     * {@link #relativeError(float[], float[], int, int, double[])} with the products W·H and ΔW·H on the
     * backend (f32), the two traces summed on the host in double.
     */
    static double relativeError(Backend backend, float[] w, float[] wq, int rows, int cols, double[] h) {
        float[] d = new float[w.length], hf = new float[h.length];
        for (int i = 0; i < w.length; i++) d[i] = w[i] - wq[i];
        for (int i = 0; i < h.length; i++) hf[i] = (float) h[i];
        float[] wh, dh;
        try (Tensor ht = backend.upload(hf, cols, cols); Tensor wt = backend.upload(w, rows, cols); Tensor dt = backend.upload(d, rows, cols);
             Tensor out = backend.zeros(DType.F32, rows, cols)) {
            backend.matmul(wt, false, ht, false, out, false);
            wh = backend.download(out);
            backend.matmul(dt, false, ht, false, out, false);
            dh = backend.download(out);
        }
        double num = 0, den = 0;
        for (int i = 0; i < w.length; i++) {
            num += (double) d[i] * dh[i];
            den += (double) w[i] * wh[i];
        }
        return den == 0 ? 0 : num / den;
    }

    /** tr(ΔW H ΔWᵀ) / tr(W H Wᵀ): the layer's output error on the calibration inputs, relative. */
    static double relativeError(float[] w, float[] wq, int rows, int cols, double[] h) {
        double num = 0, den = 0;
        double[] d = new double[cols], x = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                x[c] = w[r * cols + c];
                d[c] = x[c] - wq[r * cols + c];
            }
            num += quadratic(d, h, cols);
            den += quadratic(x, h, cols);
        }
        return den == 0 ? 0 : num / den;
    }

    private static double quadratic(double[] v, double[] h, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            if (v[i] == 0) continue;
            double t = 0;
            for (int j = 0; j < n; j++) t += h[i * n + j] * v[j];
            s += v[i] * t;
        }
        return s;
    }

    /** Mean loss per predicted token over {@code batches} of (inputs, targets) [rows·seq]. */
    public static double loss(LlamaModel model, List<int[][]> batches, int rows, int seq) {
        double sum = 0;
        long n = 0;
        for (int[][] b : batches) {
            try (Tape tape = new Tape(model.backend(), false)) {
                sum += (double) model.loss(tape, b[0], b[1], rows, seq, 1f) * rows * seq;
                n += (long) rows * seq;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /**
     * Writes the QuantLM: model.safetensors (f32, dequantized), config.json, quant_codes.safetensors,
     * quantization.json ({@code summary} plus the per-layer report) and the tokenizer when given.
     */
    public static void write(LlamaModel model, Report report, Map<String, Object> summary, Path tokenizer, Path out) throws IOException {
        Files.createDirectories(out);
        Backend backend = model.backend();
        Map<String, Tensor> weights = new LinkedHashMap<>();
        List<Tensor> owned = new ArrayList<>();
        try {
            for (Parameter p : model.parameters()) {
                Tensor t = Tensor.of(backend.download(p.value), p.value.shape());
                owned.add(t);
                weights.put(p.name, t);
            }
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("format", "pt");
            meta.put("tern_quantization", report.method().name().toLowerCase(Locale.ROOT) + " " + report.bits() + "-bit group " + report.group());
            Safetensors.write(out.resolve("model.safetensors"), weights, meta);
            Map<String, Tensor> codes = new LinkedHashMap<>();
            for (Map.Entry<String, QuantizeResult> e : report.results().entrySet()) {
                QuantizeResult q = e.getValue();
                String base = e.getKey().replace(".weight", "");
                if (q.bits() <= 8) {
                    Tensor c = Tensor.zeros(DType.I8, q.rows(), q.cols());
                    owned.add(c);
                    int offset = 1 << (q.bits() - 1);
                    for (int i = 0; i < q.codes().length; i++)
                        c.segment().set(ValueLayout.JAVA_BYTE, i, (byte) (q.codes()[i] - offset));
                    codes.put(base + ".qcodes", c);
                }
                Tensor s = Tensor.of(q.scales(), q.rows(), q.groups()), z = Tensor.of(q.zeros(), q.rows(), q.groups());
                owned.add(s);
                owned.add(z);
                codes.put(base + ".scales", s);
                codes.put(base + ".zeros", z);
            }
            Map<String, String> codeMeta = new LinkedHashMap<>();
            codeMeta.put("bits", Integer.toString(report.bits()));
            codeMeta.put("group", Integer.toString(report.group()));
            codeMeta.put("code_offset", Integer.toString(1 << (report.bits() - 1)));
            codeMeta.put("dequantize", "scale * (qcode + code_offset - zero)");
            Safetensors.write(out.resolve("quant_codes.safetensors"), codes, codeMeta);
        } finally {
            owned.forEach(Tensor::close);
        }
        AtomicFiles.writeString(out.resolve("config.json"), HfConfig.write(model.config()));
        if (tokenizer != null && Files.isRegularFile(tokenizer)) AtomicFiles.writeString(out.resolve("tokenizer.json"), Files.readString(tokenizer));
        Map<String, Object> m = new LinkedHashMap<>(summary);
        List<Object> layers = new ArrayList<>();
        for (LayerReport l : report.layers()) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("name", l.name());
            e.put("shape", List.of(l.rows(), l.cols()));
            if (!Double.isNaN(l.relativeError())) e.put("relative_error", l.relativeError());
            layers.add(e);
        }
        m.put("layers", layers);
        AtomicFiles.writeString(out.resolve("quantization.json"), Json.pretty(m));
    }
}
