package tern.cuda;

import tern.model.GoldenModelTest;
import tern.runtime.Backend;

/**
 * The PyTorch/transformers golden files (tools/reference/make_golden.py, src/test/resources/golden/) on the
 * CUDA backend: every check of {@link GoldenModelTest} with its tolerances — logits 1e-4 and every parameter
 * gradient 1e-3 of the golden tensor's largest magnitude, loss and gradient norm 1e-4 relative, weights
 * after each of three clipped AdamW steps under the Spectra schedule, and the float model trained freely
 * for three steps. The reference ran in f32 on a CPU; here cuBLAS FP32 and our kernels compute. Skipped
 * without CUDA.
 */
class GoldenCudaTest extends GoldenModelTest {
    @Override
    protected Backend backend() { return Gpu.backend(); }
}
