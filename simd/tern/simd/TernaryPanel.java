package tern.simd;

/**
 * Geometry of one orientation of a packed ternary matrix (see {@link TernaryMatmul} for the layout):
 * logical rows × cols, rows padded to a multiple of {@link #ROW_UNIT}, columns cut into segments (the
 * shards along the columns, or one segment) each padded to whole groups of {@link #GROUP} columns, so no
 * group straddles two scales.
 *
 * @param segStart   segStart[s] is the first logical column of segment s; segStart[segments] = cols
 * @param groupStart groupStart[s] is the first group of segment s; groupStart[segments] = groups
 * @param offset     byte offset of this panel inside the packed tensor
 */
record TernaryPanel(int rows, int cols, int paddedRows, int[] segStart, int[] groupStart, long offset) {
    /** Columns per group: one byte holds a group's plus nibble (low) and minus nibble (high). */
    static final int GROUP = 4;
    /** Rows per block: the 16 bytes of one group of 16 consecutive rows are adjacent (one 512-bit table lookup). */
    static final int BLOCK = 16;
    /** Rows are padded to this, so kernels always see whole tiles of 4 blocks. */
    static final int ROW_UNIT = 64;

    static TernaryPanel of(int rows, int cols, int segments, long offset) {
        int[] segStart = new int[segments + 1], groupStart = new int[segments + 1];
        for (int s = 0; s <= segments; s++) segStart[s] = (int) (((long) s * cols + segments - 1) / segments);
        for (int s = 0; s < segments; s++)
            groupStart[s + 1] = groupStart[s] + (segStart[s + 1] - segStart[s] + GROUP - 1) / GROUP;
        int padded = (rows + ROW_UNIT - 1) / ROW_UNIT * ROW_UNIT;
        return new TernaryPanel(rows, cols, padded, segStart, groupStart, offset);
    }

    int segments() { return segStart.length - 1; }
    int groups() { return groupStart[segments()]; }
    int blocks() { return paddedRows / BLOCK; }
    long bytes() { return (long) blocks() * groups() * BLOCK; }

    /** Byte offset (in the packed tensor) of the code of row r, group g. */
    long at(int r, int g) {
        return offset + ((long) (r / BLOCK) * groups() + g) * BLOCK + r % BLOCK;
    }

    /** Byte offset of block b's 16 codes of group 0 (the group-g codes follow at +16·g). */
    long blockAt(int b) {
        return offset + (long) b * groups() * BLOCK;
    }

    /** The segment holding logical column c. */
    int segmentOf(int c) {
        return (int) ((long) c * segments() / cols);
    }

    /** Group of logical column c, and bit c occupies within its nibble. */
    int groupOf(int c) {
        int s = segmentOf(c);
        return groupStart[s] + (c - segStart[s]) / GROUP;
    }

    int bitOf(int c) {
        return (c - segStart[segmentOf(c)]) % GROUP;
    }
}
