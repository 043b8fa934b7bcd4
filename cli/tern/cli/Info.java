package tern.cli;

import tern.simd.Parallel;
import tern.simd.Vectorization;

/** {@code tern info}: what this JVM and machine give the kernels. */
final class Info {
    private Info() {}

    static final String USAGE = """
            usage: tern info
              prints the Java version, the kernel threads and the SIMD path the kernels take on this machine""";

    static int run(String[] args) {
        if (args.length > 0) {
            if (!java.util.List.of(args).contains("--help")) throw new UsageException("takes no arguments (tern info --help)");
            System.out.println(USAGE);
            return 0;
        }
        System.out.println("java     " + Runtime.version());
        System.out.println("threads  " + Parallel.THREADS);
        System.out.println("kernels  " + Vectorization.describe());
        return 0;
    }
}
