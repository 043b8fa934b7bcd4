package tern.eval;

import org.junit.jupiter.api.Assumptions;
import tern.cuda.CudaBackend;
import tern.runtime.Backend;

/**
 * The golden comparison on the GPU backend: the scorer only calls {@link Backend} methods, so the same
 * numbers must come out (within the same 1e-3 on log-likelihoods). Skipped where no CUDA device is present.
 */
class EvalGoldenCudaTest extends EvalGoldenCheck {
    @Override Backend newBackend() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU golden comparison skipped");
        return new CudaBackend();
    }
}
