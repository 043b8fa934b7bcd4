package tern.simd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The 512-bit multi-row int8 tile kernels alone (not a test), one thread, on random codes and tables of 8 rows:
 * TILES tiles of one 28-group run (L1/L2-resident), each form run over every tile per pass; prints ns per
 * (row, group, tile), best of ROUNDS 1-s rounds: 8 one-row calls, two four-row calls, one eight-row call.
 *
 *   java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes tern.simd.RowsKernelProbe TILES ROUNDS
 */
public final class RowsKernelProbe {
    public static void main(String[] a) {
        int tiles = Integer.parseInt(a[0]), rounds = Integer.parseInt(a[1]), groups = 28;
        SplittableRandom rnd = new SplittableRandom(3);
        try (Arena arena = Arena.ofShared()) {
            long tileBytes = (long) groups * PackedTernary.LINE;
            MemorySegment codes = arena.allocate(tiles * tileBytes, 64);
            for (long i = 0; i < codes.byteSize(); i += 2)
                codes.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (rnd.nextInt(27) | rnd.nextInt(27) << 5 | rnd.nextInt(27) << 10));
            short[][] t = new short[8][PackedKernels.GROUP_TABLE * groups];
            for (short[] r : t) for (int i = 0; i < r.length; i++) r[i] = (short) (rnd.nextInt(763) - 381);
            int[] acc = new int[8 * tiles * 64], ref = null;
            String[] forms = {"row1 x8", "rows4 x2", "rows8"};
            for (int f = 0; f < forms.length; f++) {
                double best = Double.MAX_VALUE;
                for (int round = 0; round < rounds; round++) {
                    long n = 0, t0 = System.nanoTime();
                    while (System.nanoTime() - t0 < 1_000_000_000L) { pass(f, t, codes, tileBytes, tiles, groups, acc); n++; }
                    best = Math.min(best, (System.nanoTime() - t0) / (double) n / (8.0 * groups * tiles));
                }
                Arrays.fill(acc, 0);
                pass(f, t, codes, tileBytes, tiles, groups, acc);
                if (ref == null) ref = acc.clone();
                System.out.printf("%-9s %.3f ns per row·group·tile %s%n", forms[f], best, Arrays.equals(ref, acc) ? "(sums equal)" : "(SUMS DIFFER)");
            }
        }
    }

    private static final short[] SUMS = new short[512];

    static void pass(int form, short[][] t, MemorySegment codes, long tileBytes, int tiles, int groups, int[] acc) {
        int per = tiles * 64;
        for (int tile = 0; tile < tiles; tile++) {
            long at = tile * tileBytes - (long) PackedTernary.LINE * 0;
            int o = tile * 64;
            switch (form) {
                case 0 -> { for (int r = 0; r < 8; r++) PackedTiles512.int8Tile(t[r], 0, codes, at, 0, groups, acc, r * per + o); }
                case 1 -> {
                    PackedMatmulRows512.int8Tile4(t[0], t[1], t[2], t[3], 0, codes, at, 0, groups, acc, o, per + o, 2 * per + o, 3 * per + o);
                    PackedMatmulRows512.int8Tile4(t[4], t[5], t[6], t[7], 0, codes, at, 0, groups, acc, 4 * per + o, 5 * per + o, 6 * per + o, 7 * per + o);
                }
                default -> PackedMatmulRows512.int8Tile8(t, 0, codes, at, 0, groups, acc, o, per, SUMS);
            }
        }
    }
}
