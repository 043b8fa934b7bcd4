package tern.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import tern.eval.GptqCalibration;
import tern.eval.Quantize;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;

/**
 * GPTQ (4 bits, group 128) of a preset's model with random weights (N(0, 0.02), the training init) on
 * random calibration tokens, on the GPU: the time of issue #12's "GPTQ of the 390M preset under one minute".
 * Random weights and tokens change none of the work (the same products, factorizations and column passes).
 * <pre>
 *   bash .gpu/run.sh -cp CP tern.cuda.GptqBench PRESET COMPUTE [SEQS [SEQ]]
 * </pre>
 */
public final class GptqBench {
    private GptqBench() {}

    public static void main(String[] args) {
        String preset = args[0], compute = args[1];
        int seqs = args.length > 2 ? Integer.parseInt(args[2]) : 128, seq = args.length > 3 ? Integer.parseInt(args[3]) : 2048;
        LlamaConfig shape = LlamaConfig.preset(preset);
        Random rnd = new Random(1);
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < seqs; i++) {
            int[] r = new int[seq];
            for (int t = 0; t < seq; t++) r[t] = rnd.nextInt(shape.vocabSize());
            rows.add(r);
        }
        try (tern.runtime.Backend cuda = open(compute); LlamaModel model = new LlamaModel(cuda, shape)) {
            long t0 = System.nanoTime();
            model.initialize(1);
            sync(cuda);
            long t1 = System.nanoTime();
            java.io.PrintStream stamped = new java.io.PrintStream(System.out, true) {
                @Override public java.io.PrintStream printf(java.util.Locale l, String format, Object... a) {
                    return super.printf(l, "[%6.1f s] " + format, prepend((System.nanoTime() - t1) / 1e9, a));
                }
            };
            Quantize.Report r = Quantize.run(model, Quantize.Method.GPTQ, 4, 128, false, new GptqCalibration.Sequences(rows, seq), stamped);
            sync(cuda);
            double secs = (System.nanoTime() - t1) / 1e9;
            System.out.printf(Locale.ROOT, "GPTQ %s (%.1fM params, random weights and tokens), 4-bit group 128, %d × %d calibration tokens, compute %s: "
                            + "%.1f s (init %.1f s) on %s, %d host threads; %d linears%n",
                    preset, shape.parameterCount() / 1e6, seqs, seq, cuda.compute(), secs, (t1 - t0) / 1e9, cuda.name(),
                    Runtime.getRuntime().availableProcessors(), r.layers().size());
        }
    }

    private static Object[] prepend(Object first, Object[] rest) {
        Object[] all = new Object[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    /** "cpu" (a smoke run here) or a CUDA compute type. */
    static tern.runtime.Backend open(String compute) {
        return compute.equals("cpu") ? new tern.simd.CpuBackend() : CudaBackend.forCompute(compute);
    }

    static void sync(tern.runtime.Backend b) {
        if (b instanceof CudaBackend c) c.synchronize();
    }
}
