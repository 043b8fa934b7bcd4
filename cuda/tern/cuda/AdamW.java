package tern.cuda;

import java.util.List;

import tern.runtime.AdamWParams;
import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.sameSize;
import static tern.cuda.MultiTensor.chunkBlocks;
import static tern.cuda.MultiTensor.uploadChunkTable;

/** Launches adamw.cu: the AdamW step of one f32 tensor, or of many in one launch. */
final class AdamW {
    static final String MODULE = "adamw";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("adamw_f32", "p p p p l f f f f f f f")
            .kernel("adamw_multi_f32", "p p p p p p i f f f f f f f");
    private static final int THREADS = 256;

    private final Kernels kernels;
    private final Scratch scratch;

    AdamW(Kernels kernels, Scratch scratch) {
        this.kernels = kernels;
        this.scratch = scratch;
    }

    void step(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams p) {
        long n = param.size();
        float[] k = constants(p);
        kernels.launch(MODULE, "adamw_f32", kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(param)).ptr(addressOf(grad)).ptr(addressOf(m)).ptr(addressOf(v)).i64(n)
                        .f32(p.beta1()).f32(p.beta2()).f32(p.eps()).f32(k[0]).f32(k[1]).f32(k[2]).f32(p.gradScale()));
    }

    /** The step for t ≥ 1 tensors in one launch; the four lists are parallel (their lengths checked by the caller). */
    void stepAll(List<Tensor> params, List<Tensor> grads, List<Tensor> ms, List<Tensor> vs, AdamWParams p) {
        int t = params.size();
        long[] table = new long[5 * t];
        for (int i = 0; i < t; i++) {
            sameSize("adamwAll #" + i, params.get(i), grads.get(i), ms.get(i), vs.get(i));
            table[i] = addressOf(params.get(i));
            table[t + i] = addressOf(grads.get(i));
            table[2 * t + i] = addressOf(ms.get(i));
            table[3 * t + i] = addressOf(vs.get(i));
            table[4 * t + i] = params.get(i).size();
        }
        long base = uploadChunkTable(scratch, table, t, 0);
        float[] k = constants(p);
        kernels.launch(MODULE, "adamw_multi_f32", chunkBlocks(table, t), 1, 1, THREADS, 0,
                KernelArgs.of().ptr(base).ptr(base + 8L * t).ptr(base + 16L * t).ptr(base + 24L * t).ptr(base + 32L * t)
                        .ptr(base + 40L * t).i32(t)
                        .f32(p.beta1()).f32(p.beta2()).f32(p.eps()).f32(k[0]).f32(k[1]).f32(k[2]).f32(p.gradScale()));
    }

    /** {decay = 1 − lr·wd, stepSize = lr / (1 − β1^t), sqrt(1 − β2^t)}, from double as torch does. */
    private static float[] constants(AdamWParams p) {
        double bc1 = 1 - Math.pow(p.beta1(), p.step()), bc2 = 1 - Math.pow(p.beta2(), p.step());
        return new float[] {(float) (1 - (double) p.lr() * p.weightDecay()), (float) (p.lr() / bc1), (float) Math.sqrt(bc2)};
    }
}
