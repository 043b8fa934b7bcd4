package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Plain-Java twin of {@link PackedVector}: the same tables, one code at a time. */
final class PackedScalar implements PackedKernels {
    static final PackedScalar INSTANCE = new PackedScalar();
    private static final ValueLayout.OfShort CODE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private PackedScalar() {}

    @Override
    public void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl, int tOff) {
        float[] v = new float[3];
        for (int t = 0, c = c0; t < PackedKernels.triples(c0, c1); t++, c += PackedTernary.TRIPLE) {
            for (int i = 0; i < 3; i++) v[i] = c + i < c1 ? x[xOff + c + i] : 0f;
            for (int e = 0; e < PackedTernary.PATTERNS; e++) {
                float s = 0f;
                for (int i = 0; i < 3; i++) {
                    int d = PackedTernary.digit(e, i);
                    if (d > 0) s += v[i];
                    else if (d < 0) s -= v[i];
                }
                tbl[tOff + TABLE * t + e] = s;
            }
            for (int e = PackedTernary.PATTERNS; e < TABLE; e++) tbl[tOff + TABLE * t + e] = 0f;
        }
    }

    @Override
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff) {
        int[] v = new int[3];
        for (int t = 0, c = c0; t < PackedKernels.triples(c0, c1); t++, c += PackedTernary.TRIPLE) {
            for (int i = 0; i < 3; i++) v[i] = c + i < c1 ? q[qOff + c + i] : 0;
            for (int e = 0; e < PackedTernary.PATTERNS; e++) {
                int s = 0;
                for (int i = 0; i < 3; i++) s += PackedTernary.digit(e, i) * v[i];
                tbl[tOff + TABLE * t + e] = (short) s;
            }
            for (int e = PackedTernary.PATTERNS; e < TABLE; e++) tbl[tOff + TABLE * t + e] = 0;
        }
    }

    /** Field j of a code; codes the packer never writes (a field ≥ 27) select a zero entry. */
    private static int field(int code, int j) { return code >>> 5 * j & 31; }

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        for (int i = 0; i < PackedTernary.TILE; i++) {
            float s = 0f;
            for (int g = g0; g < g1; g++) {
                int code = codes.get(CODE, tile + (long) PackedTernary.LINE * g + 2 * i) & 0xFFFF;
                int t = tOff + GROUP_TABLE * (g - g0);
                s += tbl[t + field(code, 0)] + tbl[t + TABLE + field(code, 1)] + tbl[t + 2 * TABLE + field(code, 2)];
            }
            acc[accOff + i] += s;
        }
    }

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        for (int i = 0; i < PackedTernary.TILE; i++) {
            int s = 0;
            for (int g = g0; g < g1; g++) {
                int code = codes.get(CODE, tile + (long) PackedTernary.LINE * g + 2 * i) & 0xFFFF;
                int t = tOff + GROUP_TABLE * (g - g0);
                s += tbl[t + field(code, 0)] + tbl[t + TABLE + field(code, 1)] + tbl[t + 2 * TABLE + field(code, 2)];
            }
            acc[accOff + i] += s;
        }
    }
}
