package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A {@link PackedTernary} matrix repacked in memory, at load time, for the int8 kernels of machines
 * without a one-instruction 32-entry lookup ({@link PackedTwoBit}: AVX2, 128-bit vectors). Files keep
 * the t9 layout; this copy is built from it once per matrix and kept beside it.
 *
 * <h2>Layout ("q2", never written to a file)</h2>
 * <ul>
 * <li>Each column segment of the t9 matrix (see {@link PackedTernary}) is padded with zero weights to
 *     whole pairs of blocks, {@link #PAIR} = 16 columns ({@link #BLOCK} = 8 columns a block); B = total
 *     blocks (even), segment s owns blocks [blockStart[s], blockStart[s+1]).</li>
 * <li>Rows in tiles of 64, as t9; padding rows are zero weights.</li>
 * <li>One 16-bit code per (row, block): bits 2j, 2j+1 hold q = t + 1 ∈ {0, 1, 2} of the block's column j
 *     (a zero weight is q = 1, so padding codes are {@link #ZERO_CODE}).</li>
 * <li>The two codes of row r for blocks 2p and 2p + 1 are one little-endian 32-bit word (block 2p in the
 *     low half); a 256-bit register holds 8 rows × 16 columns. A tile's rows are in groups of
 *     {@link #GROUP} (the rows of one pass of the one-row kernel: its four code registers), and a group's
 *     words are one contiguous stream over the pairs: element (r/64)·B·64 + g·(B/2)·2G + p·2G + 2·(r%G) + b%2
 *     for block b of pair p, g = (r%64)/G, G = {@link #GROUP}. At 512 bits G = 64 (one group, pair by pair).</li>
 * </ul>
 * Why groups: a pass then reads its codes as one sequential stream, where with pairs of whole tiles it read
 * half of every 256 bytes and the next pass the other half. Measured on Zen 4 with AVX2 forced (one thread,
 * kernel alone, fastest of 300 calls, two runs): 4096×14336 1005–1037 µs against 1268–1272, 2560×1024
 * 43.0–57.0 against 55.7–63.3. The layout depends on the width; it is built at run time for the width that runs.
 * Why 2-bit digits: on AVX2 a lane's digit costs a shift, and the product one 16-bit multiply and add
 * (acc += q·x, then acc − Σx = Σ t·x, since t = q − 1), one multiply per 16 weights where decoding
 * t9's base-3 fields by multiply-shift costs 5/3. Why 32-bit pairs: C2 shifts int16 lanes only by a
 * count register (two more instructions a shift, measured), int32 lanes by an immediate, and a 32-bit
 * word of 16 digits telescopes with no correction step (see {@link PackedTwoBit}). 2 bits a weight
 * instead of 16/9: 12.5 % more memory.
 *
 * <p>Matrices are repacked once and cached by their codes' memory (scope, address and size), so the
 * geometry views {@link PackedOps} makes per call share one copy, which goes when the codes' scope does.
 * The copy is a Java short[] (at most 2³¹ codes, 2¹⁴·2¹⁷ weights, per matrix): the kernels read it as
 * arrays, which measured faster than a memory segment of the same codes (C2 drops the array's bounds
 * checks from the loops). Only native code segments are cached (heap segments, tests only, are
 * repacked per call).
 */
final class PackedTwoBitLayout {
    /** Columns per 16-bit code. */
    static final int BLOCK = 8;
    /** Columns per 32-bit word of two codes (each segment is padded to whole pairs). */
    static final int PAIR = 2 * BLOCK;
    static final int TILE = PackedTernary.TILE, LINE = PackedTernary.LINE;
    /**
     * Rows of a group (see the class comment): the rows of the one-row kernel's four code registers, BITS/32
     * rows (int32 lanes) each: 32 at 256 bits, 16 at 128, a whole tile at 512.
     */
    static final int GROUP = Math.min(TILE, 4 * Math.max(128, Vectorization.BITS) / 32);
    /** Eight zero weights: q = 1 in every field. */
    static final short ZERO_CODE = 0x5555;
    private static final ValueLayout.OfShort CODE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final PackedTernary source;
    /** The codes as int16 lanes, code (r, b) at {@link #index} (a heap array: see the class comment). */
    final short[] codes;
    /** blockStart[s] = first block of segment s; blockStart[segments] = B. */
    final int[] blockStart;

    private PackedTwoBitLayout(PackedTernary source, short[] codes, int[] blockStart) {
        this.source = source;
        this.codes = codes;
        this.blockStart = blockStart;
    }

    int blocks() { return blockStart[blockStart.length - 1]; }

    /** Index of tile t's first code. */
    int tileAt(int t) { return t * blocks() * TILE; }

    /** Blocks per segment for a matrix's column segments: whole pairs, so every start is even. */
    static int[] blockStarts(PackedTernary w) {
        int[] b = new int[w.segments() + 1];
        for (int s = 0; s < w.segments(); s++) b[s + 1] = b[s] + 2 * ((w.segStart()[s + 1] - w.segStart()[s] + PAIR - 1) / PAIR);
        return b;
    }

    /** Index of the code of row i (&lt; 64) of a tile of {@code blocks} blocks, block b, from the tile's first code. */
    static int index(int i, int b, int blocks) { return i / GROUP * blocks * GROUP + (b >> 1) * 2 * GROUP + 2 * (i % GROUP) + (b & 1); }

    /** Distance between the first codes of two adjacent groups of a tile. */
    int groupStride() { return blocks() * GROUP; }

    /** One scope's copies: by the codes' memory and geometry, and by the geometry objects already seen. */
    private static final class InScope {
        final Map<String, PackedTwoBitLayout> byKey = new HashMap<>();
        /**
         * The views handed out, by their geometry object: {@link PackedOps} makes one geometry per weights and
         * reuses it, so after the first call a product finds its view with one identity lookup instead of
         * building a key string (≈ 1 µs, about a hundred times a decode step). Geometry objects made per call
         * (tests) would grow this without bound, so it is cleared when it outgrows the copies several times.
         */
        final Map<PackedTernary, PackedTwoBitLayout> byGeometry = new IdentityHashMap<>();
    }

    /*
     * Weak keys alone would never let an entry go: its copies hold their source weights, whose codes segment
     * holds the scope, so the value keeps its own key reachable. Entries of closed scopes (a model closed) are
     * therefore dropped by hand whenever a new copy is made, the moment a next model's products first run.
     */
    private static final Map<MemorySegment.Scope, InScope> CACHE = new WeakHashMap<>();

    /** Closed scopes whose copies are still cached (for tests). */
    static long cachedClosedScopes() {
        synchronized (CACHE) {
            return CACHE.keySet().stream().filter(s -> !s.isAlive()).count();
        }
    }

    /** The q2 copy of w, built on first use and then shared (see the class comment). */
    static PackedTwoBitLayout of(PackedTernary w) {
        MemorySegment c = w.codes();
        if (!c.isNative()) return repack(w);
        synchronized (CACHE) {
            InScope inScope = CACHE.computeIfAbsent(c.scope(), s -> new InScope());
            PackedTwoBitLayout seen = inScope.byGeometry.get(w);
            if (seen != null) return seen;
            String key = c.address() + "/" + c.byteSize() + "/" + w.rows() + "×" + w.cols() + Arrays.toString(w.segStart());
            PackedTwoBitLayout l = inScope.byKey.get(key);
            if (l == null) {
                CACHE.keySet().removeIf(s -> !s.isAlive());
                inScope.byKey.put(key, l = repack(w));
            }
            // The view of this call: the same codes, the caller's scales and geometry object.
            PackedTwoBitLayout view = l.source == w ? l : new PackedTwoBitLayout(w, l.codes, l.blockStart);
            if (inScope.byGeometry.size() >= 4 * inScope.byKey.size() + 64) inScope.byGeometry.clear();
            inScope.byGeometry.put(w, view);
            return view;
        }
    }

    /**
     * Q6[e] = the three digits of a t9 field e &lt; 27 as 2-bit fields, digit d at bits 2d. The t9 digits are
     * q = t + 1 already (e = q₀ + 3q₁ + 9q₂), so one lookup per field replaces three divisions.
     */
    private static final int[] Q6 = new int[PackedTernary.PATTERNS];
    static {
        for (int e = 0; e < PackedTernary.PATTERNS; e++) Q6[e] = e % 3 | (e / 3 % 3) << 2 | (e / 9) << 4;
    }

    /**
     * Repacks w's t9 codes (in parallel over tiles). A code that is not a t9 code (a field ≥ 27, or bit
     * 15 set) is an error naming its row and column group, as {@link PackedTernary#trits} does.
     */
    static PackedTwoBitLayout repack(PackedTernary w) {
        int[] bs = blockStarts(w);
        int blocks = bs[bs.length - 1], groups = w.groups(), tiles = w.tiles();
        short[] dst = new short[Math.multiplyExact(Math.multiplyExact(tiles, blocks), TILE)];
        MemorySegment src = w.codes();
        Parallel.range(tiles, 4, (t0, t1) -> {
            short[] in = new short[groups * TILE];
            for (int tile = t0; tile < t1; tile++) {
                MemorySegment.copy(src, CODE, w.tileAt(tile), in, 0, in.length);
                for (int s = 0; s < w.segments(); s++)
                    for (int i = 0; i < TILE; i++) repackRow(w, in, s, i, tile, dst, tile * blocks * TILE, blocks, bs[s], bs[s + 1]);
            }
        });
        return new PackedTwoBitLayout(w, dst, bs);
    }

    /**
     * Row i of one tile, segment s: its t9 codes (in[g·64 + i]) become 18 bits of digits each (9 columns,
     * fewer in a segment's last group), streamed through a bit buffer and written 16 bits (8 columns) at a
     * time to block b0, b0 + 1, ... of the row ({@link #index}); the last block's missing columns, and the
     * block that pads the segment to whole pairs, are zero weights. A small method
     * of plain loops, so that C2 compiles it in milliseconds: the nested per-digit loops it replaced took
     * seconds of C2 time in a fresh process on two cores (JFR, BENCHMARKS.md), before the first token.
     */
    private static void repackRow(PackedTernary w, short[] in, int s, int i, int tile, short[] dst, int base, int blocks, int b0, int b1) {
        int n = w.segStart()[s + 1] - w.segStart()[s], g0 = w.groupStart()[s], g1 = w.groupStart()[s + 1];
        long buf = 0;
        int bits = 0, block = b0;
        for (int g = g0; g < g1; g++) {
            int code = in[g * TILE + i], a = code & 31, b = code >>> 5 & 31, c = code >>> 10;
            if (code < 0 || a >= PackedTernary.PATTERNS || b >= PackedTernary.PATTERNS || c >= PackedTernary.PATTERNS)
                throw notT9(code, tile * TILE + i, w.segStart()[s] + (g - g0) * PackedTernary.GROUP);
            long v = Q6[a] | Q6[b] << 6 | Q6[c] << 12;
            int digits = Math.min(PackedTernary.GROUP, n - (g - g0) * PackedTernary.GROUP);
            buf |= (v & (1L << 2 * digits) - 1) << bits;
            bits += 2 * digits;
            for (; bits >= 16; bits -= 16, buf >>>= 16) dst[base + index(i, block++, blocks)] = (short) buf;
        }
        if (bits > 0) dst[base + index(i, block++, blocks)] = (short) (buf | ZERO_CODE & -(1 << bits));
        for (; block < b1; block++) dst[base + index(i, block, blocks)] = ZERO_CODE;          // the pair's padding block
    }

    private static IllegalStateException notT9(int code, int row, int col) {
        return new IllegalStateException("code " + Integer.toHexString(code & 0xFFFF) + " of row " + row + ", columns from " + col
                + " is not a t9 code: cannot repack it for the 2-bit kernels");
    }

    /** T of one weight read back from the q2 codes: −1, 0 or +1 (the round-trip tests). */
    int trit(int r, int c) {
        PackedTernary w = source;
        int s = w.axis() == tern.runtime.ShardAxis.COLS ? (int) ((long) c * w.segments() / w.cols()) : 0;
        int k = c - w.segStart()[s], b = blockStart[s] + k / BLOCK;
        int code = codes[tileAt(r / TILE) + index(r % TILE, b, blocks())];
        return (code >>> 2 * (k % BLOCK) & 3) - 1;
    }

    /** The raw code of (row r, block b), padding included (tests). */
    short code(int r, int b) { return codes[tileAt(r / TILE) + index(r % TILE, b, blocks())]; }
}
