package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import tern.eval.GptqCalibration;
import tern.eval.Quantize;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.train.Batch;
import tern.train.BatchSampler;
import tern.train.TokenShardSet;
import tern.train.TrainCheckpoint;

/**
 * {@code tern quantize}: post-training quantization of a FloatLM checkpoint to a QuantLM (RTN or GPTQ,
 * k bits, per-group grids), with the validation loss before and after.
 */
final class QuantizeCommand {
    private QuantizeCommand() {}

    static final String USAGE = """
            usage: tern quantize --ckpt DIR --bits 3|4|6|8 --method rtn|gptq --out DIR [options]
              --ckpt DIR         a FloatLM checkpoint (or a run folder: its latest checkpoint)
              --bits K           bits per weight of the block linears (2..8)
              --method M         rtn (round to nearest) or gptq (Frantar et al. 2022)                 [gptq]
              --group G          input columns per quantization group; 0 = one group per row           [128]
              --sym              symmetric grids (default: asymmetric min–max with a zero point, GPTQ's default)
              --calib DIR        token shards for calibration (train split); needed by gptq
              --calib-seqs N     calibration sequences (GPTQ used 128 of 2048 tokens; scaled down for CPU) [128]
              --seq T            tokens per calibration/validation sequence                [the model's context]
              --val DIR          token shards whose val split measures the loss before/after      [--calib]
              --val-batches N    validation batches of 8 sequences                                       [8]
              --seed S           which calibration windows are drawn                                  [1234]
              --out DIR          the QuantLM: model.safetensors (f32), config.json, quant_codes.safetensors, quantization.json
              --device cpu|cuda  the backend: the calibration forward, the Hessians XᵀX and GPTQ's lazy column
                                 updates run there; each block's column-by-column work and the Cholesky on the host
              --compute f32|bf16 CUDA's number type for those products; bf16 rounds the Hessian's inputs     [f32]""";

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args a = Args.parse("quantize", argv,
                Set.of("ckpt", "bits", "method", "group", "calib", "calib-seqs", "seq", "val", "val-batches", "seed", "out", "device", "compute"), Set.of("sym"));
        Path ckptArg = Path.of(a.required("ckpt"));
        Path out = Path.of(a.required("out"));
        int bits = a.intValue("bits", 4);
        if (bits < 2 || bits > 8) throw new UsageException("--bits must be in 2..8, got " + bits);
        Quantize.Method method = switch (a.string("method", "gptq")) {
            case "rtn" -> Quantize.Method.RTN;
            case "gptq" -> Quantize.Method.GPTQ;
            default -> throw new UsageException("--method must be rtn or gptq, got '" + a.string("method", "") + "'");
        };
        int group = a.intValue("group", 128);
        if (group < 0) throw new UsageException("--group must be ≥ 0, got " + group);
        if (method == Quantize.Method.GPTQ && !a.has("calib")) throw new UsageException("--method gptq needs --calib DIR (token shards)");
        int calibSeqs = a.intValue("calib-seqs", 128);
        int valBatches = a.intValue("val-batches", 8);
        if (calibSeqs < 1 || valBatches < 1) throw new UsageException("--calib-seqs and --val-batches must be at least 1");

        Path ckpt = TrainCheckpoint.modelFolder(ckptArg);
        try (Backend backend = Devices.open(a.string("device", "cpu"), a.string("compute", "f32"));
             LlamaModel model = TrainCheckpoint.loadModel(ckpt, backend)) {
            System.out.println("backend " + backend.name() + ", compute " + backend.compute());
            int seq = a.intValue("seq", model.config().contextLength());
            if (seq < 1 || seq > model.config().contextLength())
                throw new UsageException("--seq must be in 1.." + model.config().contextLength() + " (the model's context), got " + seq);
            GptqCalibration.Sequences calib = null;
            if (a.has("calib")) calib = calibration(Path.of(a.required("calib")), calibSeqs, seq, a.longValue("seed", 1234), model.config().vocabSize());
            List<int[][]> val = new ArrayList<>();
            String valDir = a.string("val", a.string("calib", null));
            if (valDir != null) val = validation(Path.of(valDir), valBatches, seq, model.config().vocabSize());
            double before = Quantize.loss(model, val, 8, seq);
            System.out.printf(Locale.ROOT, "%s: %s; validation loss before %.4f%n", ckpt, model.config().describe(), before);
            long t0 = System.nanoTime();
            Quantize.Report report = Quantize.run(model, method, bits, group, a.has("sym"), calib, System.out);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double after = Quantize.loss(model, val, 8, seq);
            System.out.printf(Locale.ROOT, "%s %d-bit, group %d: validation loss %.4f → %.4f (%+.4f) in %.1f s%n",
                    method, bits, group, before, after, after - before, seconds);
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("source", ckpt.toString());
            summary.put("method", method.name().toLowerCase(Locale.ROOT));
            summary.put("bits", bits);
            summary.put("group", group);
            summary.put("symmetric", a.has("sym"));
            summary.put("calibration_sequences", calib == null ? 0 : calib.rows().size());
            summary.put("calibration_tokens", report.calibrationTokens());
            summary.put("val_loss_before", before);
            summary.put("val_loss_after", after);
            summary.put("non_embedding_params", model.config().linearParameters());
            summary.put("params", model.config().parameterCount());
            summary.put("training_tokens", trainingTokens(ckpt));
            summary.put("seconds", seconds);
            Path tokenizer = ckpt.resolve(TrainCheckpoint.TOKENIZER);
            Quantize.write(model, report, summary, tokenizer, out);
            System.out.println("QuantLM written to " + out);
        }
        return 0;
    }

    /** Tokens the checkpoint was trained on (training_state.json), or -1 when it does not say. */
    private static long trainingTokens(Path ckpt) {
        try {
            if (!Files.isRegularFile(ckpt.resolve(TrainCheckpoint.STATE))) return -1;
            return TrainCheckpoint.readState(ckpt).raw().tokensSeen();
        } catch (Exception e) {
            return -1;
        }
    }

    private static GptqCalibration.Sequences calibration(Path dir, int n, int seq, long seed, int vocab) throws Exception {
        try (TokenShardSet data = TokenShardSet.open(dir)) {
            checkVocab(dir, data, vocab);
            BatchSampler sampler = new BatchSampler(data.train(), 1, seq, seed);
            List<int[]> rows = new ArrayList<>();
            for (int i = 0; i < n; i++) rows.add(sampler.next().inputs());
            return new GptqCalibration.Sequences(rows, seq);
        }
    }

    private static List<int[][]> validation(Path dir, int batches, int seq, int vocab) throws Exception {
        try (TokenShardSet data = TokenShardSet.open(dir)) {
            checkVocab(dir, data, vocab);
            if (data.val().isEmpty()) throw new UsageException(dir + " has no validation shards (val-*.tok)");
            List<int[][]> out = new ArrayList<>();
            Iterator<Batch> it = BatchSampler.validation(data.val(), 8, seq);
            while (it.hasNext() && out.size() < batches) {
                Batch b = it.next();
                out.add(new int[][]{b.inputs(), b.targets()});
            }
            return out;
        }
    }

    private static void checkVocab(Path dir, TokenShardSet data, int vocab) {
        if (data.vocabSize() > vocab)
            throw new UsageException(dir + ": shards of a " + data.vocabSize() + "-token vocabulary for a model of " + vocab);
    }
}
