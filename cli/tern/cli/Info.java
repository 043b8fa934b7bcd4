package tern.cli;

import tern.simd.KernelProvider;
import tern.simd.Parallel;
import tern.simd.Vectorization;

/** {@code tern info}: what this JVM and machine give the kernels. */
final class Info {
    private Info() {}

    static int run(String[] args) {
        System.out.println("java     " + Runtime.version());
        System.out.println("threads  " + Parallel.THREADS);
        System.out.println("vectors  " + Vectorization.describe());
        System.out.println("kernels  " + KernelProvider.preferred().describe());
        return 0;
    }
}
