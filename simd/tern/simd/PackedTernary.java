package tern.simd;

import tern.runtime.ShardAxis;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A ternary matrix W = γ·T [rows = out, cols = in] packed for inference at 2 bits per weight: the format
 * the packed model file stores and the {@link PackedMatmul} kernels read in place (a memory-mapped
 * segment is fine). Only the forward orientation is kept: inference never needs Tᵀ.
 *
 * <h2>Layout ("t2")</h2>
 * <ul>
 * <li>Columns are cut into segments (one per shard when the shards cut the columns, else one segment),
 *     each padded with zero weights to whole groups of {@link #GROUP} = 4 columns: no group straddles
 *     two scales. G = total groups.</li>
 * <li>Rows are padded with zero weights to whole tiles of {@link #TILE} = 64 rows.</li>
 * <li>One code byte per (row, group): low nibble = plus mask, high nibble = minus mask, bit j of a
 *     nibble = column j of the group (T = +1: plus bit, −1: minus bit, 0: neither).</li>
 * <li>The code of (row r, group g) is at byte {@code (r/64)·G·64 + g·64 + r%64}: the 64 codes of one
 *     group of one tile are one 64-byte line, and a tile's groups follow each other, so a tile's codes
 *     are one contiguous stream read front to back (what the hardware prefetcher likes best).</li>
 * </ul>
 * Why nibble codes: the kernels build, per activation row and group, the 16 subset sums of the group's
 * 4 activations (one 512-bit register of floats, or of int16 twice over); a code nibble then selects the
 * sum of the activations its weights add (or subtract) with one permute: additions and subtractions only,
 * no multiplication by a weight. The scales are applied once per output and segment.
 *
 * @param codes    the packed bytes ({@link #bytes(int, int, int, ShardAxis)} of them)
 * @param scales   γ per shard; shard s of {@code scales.length} equal cuts along {@code axis}
 * @param segStart segStart[s] = first logical column of segment s; segStart[segments] = cols
 * @param groupStart groupStart[s] = first group of segment s; groupStart[segments] = G
 */
public record PackedTernary(MemorySegment codes, int rows, int cols, float[] scales, ShardAxis axis,
                            int[] segStart, int[] groupStart) {
    /** Columns per group: one nibble of plus bits and one of minus bits. */
    public static final int GROUP = 4;
    /** Rows per tile: a tile's codes of one group fill one 64-byte cache line. */
    public static final int TILE = 64;

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
        return tiles(rows) * groups * TILE;
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
    long tileAt(int t) { return (long) t * groups() * TILE; }

    /**
     * Packs T (row-major, one byte per weight, each −1, 0 or +1) into {@code dst}, which must be
     * {@link #bytes} long; padding codes are zero.
     */
    public static PackedTernary pack(byte[] t, int rows, int cols, float[] scales, ShardAxis axis, MemorySegment dst) {
        if (t.length != (long) rows * cols)
            throw new IllegalArgumentException(t.length + " trits for a " + rows + "×" + cols + " matrix");
        PackedTernary p = of(dst, rows, cols, scales, axis);
        int groups = p.groups();
        Parallel.range(p.tiles(), 4, (t0, t1) -> {
            byte[] line = new byte[groups * TILE];
            for (int tile = t0; tile < t1; tile++) {
                Arrays.fill(line, (byte) 0);
                for (int i = 0; i < TILE && tile * TILE + i < rows; i++) {
                    int r = tile * TILE + i;
                    for (int s = 0; s < p.segments(); s++)
                        for (int c = p.segStart[s], g = p.groupStart[s]; c < p.segStart[s + 1]; c++) {
                            int j = (c - p.segStart[s]) % GROUP;
                            byte v = t[r * cols + c];
                            if (v > 1 || v < -1) throw new IllegalArgumentException("trit " + v + " at row " + r + ", column " + c);
                            int bit = v > 0 ? 1 << j : v < 0 ? 1 << (j + 4) : 0;
                            line[(g + (c - p.segStart[s]) / GROUP) * TILE + i] |= (byte) bit;
                        }
                }
                MemorySegment.copy(line, 0, dst, ValueLayout.JAVA_BYTE, p.tileAt(tile), line.length);
            }
        });
        return p;
    }

    /** T of one weight (row r, column c) read back from the codes: −1, 0 or +1. */
    public int trit(int r, int c) {
        int s = axis == ShardAxis.COLS ? (int) ((long) c * segments() / cols) : 0;
        int g = groupStart[s] + (c - segStart[s]) / GROUP, j = (c - segStart[s]) % GROUP;
        int code = codes.get(ValueLayout.JAVA_BYTE, tileAt(r / TILE) + (long) g * TILE + r % TILE);
        return (code >>> j & 1) - (code >>> (j + 4) & 1);
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
