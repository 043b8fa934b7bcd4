package tern.simd;

/**
 * Flat loops over tensors whose element count is a long: the range is cut into blocks of at most
 * {@link #BLOCK} elements (an int each) and the blocks are spread over {@link Parallel}.
 */
final class Blocks {
    /** Elements per block: large enough that a block's work dwarfs a fork, small enough to balance. */
    static final int BLOCK = 1 << 16;

    @FunctionalInterface
    interface Body {
        void run(long from, int n);
    }

    private Blocks() {}

    static int count(long size) {
        return (int) ((size + BLOCK - 1) / BLOCK);
    }

    /** Runs body over [0, size) in blocks; parallel when there are at least {@code minElements} per thread. */
    static void forEach(long size, int minElements, Body body) {
        int blocks = count(size);
        Parallel.range(blocks, Math.max(1, minElements / BLOCK), (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                long from = (long) b * BLOCK;
                body.run(from, (int) Math.min(BLOCK, size - from));
            }
        });
    }
}
