package tern.eval;

import tern.runtime.Backend;
import tern.simd.CpuBackend;

/** The golden comparison on the CPU backend. */
class EvalGoldenTest extends EvalGoldenCheck {
    @Override Backend newBackend() { return new CpuBackend(); }
}
