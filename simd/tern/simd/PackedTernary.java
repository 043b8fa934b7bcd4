package tern.simd;

import tern.runtime.ShardAxis;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A ternary matrix W = γ·T [rows = out, cols = in] packed for inference at 16/9 ≈ 1.78 bits per weight:
 * the format the packed model file stores (dtype {@value #DTYPE}) and the {@link PackedMatmul} kernels
 * read in place (a memory-mapped segment is fine). Only the forward orientation is kept: inference never
 * needs Tᵀ.
 *
 * <h2>Layout ("t9": 9 trits per 16-bit code)</h2>
 * <ul>
 * <li>Columns are cut into segments (one per shard when the shards cut the columns, else one segment),
 *     each padded with zero weights to whole groups of {@link #GROUP} = 9 columns: no group straddles
 *     two scales. G = total groups. A group is three triples of 3 columns.</li>
 * <li>Rows are padded with zero weights to whole tiles of {@link #TILE} = 64 rows.</li>
 * <li>One little-endian 16-bit code per (row, group): bits 5j..5j+4 hold triple j's index
 *     e = (t₀+1) + 3(t₁+1) + 9(t₂+1) ∈ [0, 27) of its trits t₀, t₁, t₂ (columns 3j, 3j+1, 3j+2 of the
 *     group); bit 15 is zero. A zero weight is digit 1, so padding codes are {@link #ZERO_CODE}.</li>
 * <li>The code of (row r, group g) is at byte {@code (r/64)·G·128 + g·128 + 2·(r%64)}: the 64 codes of
 *     one group of one tile are two 64-byte lines, and a tile's groups follow each other, so a tile's
 *     codes are one contiguous stream read front to back (what the hardware prefetcher likes best).</li>
 * </ul>
 * Why signed triples in 16-bit lanes: the kernels build, per activation row and triple, the 27 signed
 * sums ±a ±b ±c (and the zero choices) of the triple's activations — one 512-bit register of 32 int16
 * sums, or two of floats — and a 5-bit field of a code selects the whole triple's contribution with one
 * permute ({@code vpermw} over 32 rows, or {@code vpermi2d} over 16): one lookup and one add per 3
 * weights, where 4-column plus/minus nibbles need two lookups and two adds per 4. 27 &lt; 32 fits one
 * int16 register, and three 5-bit fields fit one int16 lane, so the code lanes feed the permutes with a
 * shift and no widening. The scales are applied once per output and segment.
 *
 * @param codes    the packed bytes ({@link #bytes(int, int, int, ShardAxis)} of them)
 * @param scales   γ per shard; shard s of {@code scales.length} equal cuts along {@code axis}
 * @param segStart segStart[s] = first logical column of segment s; segStart[segments] = cols
 * @param groupStart groupStart[s] = first group of segment s; groupStart[segments] = G
 */
public record PackedTernary(MemorySegment codes, int rows, int cols, float[] scales, ShardAxis axis,
                            int[] segStart, int[] groupStart) {
    /** The dtype name of this layout in packed model files. */
    public static final String DTYPE = "t9";
    /** Columns per group: three triples, one 16-bit code. */
    public static final int GROUP = 9;
    /** Columns per triple: one 5-bit field of a code, one lookup. */
    public static final int TRIPLE = 3;
    /** Distinct triple indices: 3³. */
    public static final int PATTERNS = 27;
    /** Rows per tile: a tile's codes of one group fill two 64-byte cache lines. */
    public static final int TILE = 64;
    /** Bytes of one group of one tile. */
    public static final int LINE = 2 * TILE;
    /** The code of nine zero weights: index 13 (every digit 1) in each field. */
    public static final short ZERO_CODE = 13 | 13 << 5 | 13 << 10;

    private static final ValueLayout.OfShort CODE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public PackedTernary {
        if (rows < 1 || cols < 1) throw new IllegalArgumentException("packed ternary matrix needs positive shape, got " + rows + "×" + cols);
        if (scales.length < 1 || scales.length > (axis == ShardAxis.ROWS ? rows : cols))
            throw new IllegalArgumentException("cannot cut " + rows + "×" + cols + " into " + scales.length + " shards along " + axis);
        for (float s : scales)
            if (!Float.isFinite(s)) throw new IllegalArgumentException("ternary scale " + s + " is not finite");
        long need = bytes(rows, cols, scales.length, axis);
        if (codes.byteSize() != need)
            throw new IllegalArgumentException("packed ternary " + rows + "×" + cols + " (" + scales.length + " shards along " + axis
                    + ") needs " + need + " code bytes, got " + codes.byteSize());
    }

    /** Geometry for a matrix over existing codes (e.g. a mapped file section); the size is checked. */
    public static PackedTernary of(MemorySegment codes, int rows, int cols, float[] scales, ShardAxis axis) {
        int segments = axis == ShardAxis.COLS ? scales.length : 1;
        int[] segStart = new int[segments + 1], groupStart = new int[segments + 1];
        // The first column of shard s is ceil(s·cols/S): exactly the columns c with c·S/cols = s.
        for (int s = 0; s <= segments; s++) segStart[s] = (int) (((long) s * cols + segments - 1) / segments);
        for (int s = 0; s < segments; s++)
            groupStart[s + 1] = groupStart[s] + (segStart[s + 1] - segStart[s] + GROUP - 1) / GROUP;
        return new PackedTernary(codes, rows, cols, scales.clone(), axis, segStart, groupStart);
    }

    /** Code bytes of a matrix of this shape and sharding. */
    public static long bytes(int rows, int cols, int shards, ShardAxis axis) {
        int segments = axis == ShardAxis.COLS ? shards : 1;
        long groups = 0;
        for (int s = 0; s < segments; s++) {
            long c0 = ((long) s * cols + segments - 1) / segments, c1 = ((long) (s + 1) * cols + segments - 1) / segments;
            groups += (c1 - c0 + GROUP - 1) / GROUP;
        }
        return tiles(rows) * groups * LINE;
    }

    static long tiles(int rows) { return (rows + TILE - 1) / TILE; }

    public int tiles() { return (int) tiles(rows); }

    public int segments() { return segStart.length - 1; }

    public int groups() { return groupStart[segments()]; }

    public int shards() { return scales.length; }

    /** γ of output row r in segment s. */
    float scale(int r, int s) {
        int n = scales.length;
        return axis == ShardAxis.ROWS ? scales[(int) ((long) r * n / rows)] : scales[s];
    }

    /** Byte offset of tile t's codes. */
    long tileAt(int t) { return (long) t * groups() * LINE; }

    /**
     * Packs T (row-major, one byte per weight, each −1, 0 or +1) into {@code dst}, which must be
     * {@link #bytes} long; padding weights are zero.
     */
    public static PackedTernary pack(byte[] t, int rows, int cols, float[] scales, ShardAxis axis, MemorySegment dst) {
        if (t.length != (long) rows * cols)
            throw new IllegalArgumentException(t.length + " trits for a " + rows + "×" + cols + " matrix");
        PackedTernary p = of(dst, rows, cols, scales, axis);
        int groups = p.groups();
        Parallel.range(p.tiles(), 4, (t0, t1) -> {
            short[] line = new short[groups * TILE];
            for (int tile = t0; tile < t1; tile++) {
                java.util.Arrays.fill(line, ZERO_CODE);
                for (int i = 0; i < TILE && tile * TILE + i < rows; i++) {
                    int r = tile * TILE + i;
                    for (int s = 0; s < p.segments(); s++)
                        for (int c = p.segStart[s]; c < p.segStart[s + 1]; c++) {
                            byte v = t[r * cols + c];
                            if (v > 1 || v < -1) throw new IllegalArgumentException("trit " + v + " at row " + r + ", column " + c);
                            int k = c - p.segStart[s], g = p.groupStart[s] + k / GROUP, j = k % GROUP;
                            // Field j/3 holds Σ 3^(j%3)·(t+1); padding started it at digit 1 (t = 0): add t·3^(j%3).
                            int weight = POW3[j % TRIPLE] << 5 * (j / TRIPLE);
                            line[g * TILE + i] = (short) (line[g * TILE + i] + v * weight);
                        }
                }
                MemorySegment.copy(line, 0, dst, CODE, p.tileAt(tile), line.length);
            }
        });
        return p;
    }

    private static final int[] POW3 = {1, 3, 9};

    /** Trit i ∈ [0, 3) of triple index e: −1, 0 or +1. */
    static int digit(int e, int i) { return e / POW3[i] % 3 - 1; }

    /** T of one weight (row r, column c) read back from the codes: −1, 0 or +1. */
    public int trit(int r, int c) {
        int s = axis == ShardAxis.COLS ? (int) ((long) c * segments() / cols) : 0;
        int k = c - segStart[s], g = groupStart[s] + k / GROUP, j = k % GROUP;
        int code = codes.get(CODE, tileAt(r / TILE) + (long) g * LINE + 2L * (r % TILE));
        int e = code >>> 5 * (j / TRIPLE) & 31;
        if (e >= PATTERNS || code < 0)
            throw new IllegalStateException("code " + Integer.toHexString(code & 0xFFFF) + " of row " + r + ", column " + c + " is not a t9 code");
        return digit(e, j % TRIPLE);
    }

    /**
     * T row-major, one byte per weight (−1, 0, +1), read in one pass over the codes: what a device that
     * keeps its own layout repacks from. Codes that are not t9 codes are an error naming the row.
     */
    public byte[] trits() {
        byte[] t = new byte[Math.multiplyExact(rows, cols)];
        for (int tile = 0; tile < tiles(); tile++)
            for (int s = 0; s < segments(); s++)
                for (int g = groupStart[s]; g < groupStart[s + 1]; g++) {
                    int c0 = segStart[s] + (g - groupStart[s]) * GROUP, n = Math.min(GROUP, segStart[s + 1] - c0);
                    long at = tileAt(tile) + (long) g * LINE;
                    for (int i = 0; i < TILE && tile * TILE + i < rows; i++) {
                        int code = codes.get(CODE, at + 2L * i), r = tile * TILE + i;
                        if (code < 0) throw new IllegalStateException("code " + Integer.toHexString(code & 0xFFFF) + " of row " + r + " is not a t9 code");
                        for (int j = 0; j < n; j++) {
                            int e = code >>> 5 * (j / TRIPLE) & 31;
                            if (e >= PATTERNS) throw new IllegalStateException("code " + Integer.toHexString(code) + " of row " + r + " is not a t9 code");
                            t[r * cols + c0 + j] = (byte) digit(e, j % TRIPLE);
                        }
                    }
                }
        return t;
    }

    /** γ·T as a dense row-major float matrix (tests and the float baseline). */
    public float[] dequantize() {
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int s = axis == ShardAxis.COLS ? (int) ((long) c * scales.length / cols) : 0;
                w[r * cols + c] = trit(r, c) * scale(r, s);
            }
        return w;
    }

    @Override public String toString() {
        return "PackedTernary " + rows + "×" + cols + ", " + scales.length + " shard(s) along " + axis + ", " + codes.byteSize() + " bytes";
    }
}
