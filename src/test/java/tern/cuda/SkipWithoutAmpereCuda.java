package tern.cuda;

import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;

/** jqwik's counterpart of Gpu.backend()'s assumption: skips a property where there is no CUDA device of sm_80+. */
public final class SkipWithoutAmpereCuda implements SkipExecutionHook {
    @Override
    public SkipResult shouldBeSkipped(LifecycleContext context) {
        if (!CudaBackend.isAvailable()) return SkipResult.skip("no CUDA device: GPU properties skipped");
        if (Gpu.backend().arch() < 80) return SkipResult.skip("the split-K packed GEMV needs sm_80");
        return SkipResult.doNotSkip();
    }
}
