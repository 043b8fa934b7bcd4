package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Plain-Java twin of {@link PackedVector}: the same tables, one code at a time. */
final class PackedScalar implements PackedKernels {
    static final PackedScalar INSTANCE = new PackedScalar();

    private PackedScalar() {}

    @Override
    public void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl) {
        for (int g = 0, c = c0; c < c1; g++, c += 4) {
            float a = x[xOff + c], b = c + 1 < c1 ? x[xOff + c + 1] : 0f;
            float d = c + 2 < c1 ? x[xOff + c + 2] : 0f, e = c + 3 < c1 ? x[xOff + c + 3] : 0f;
            int t = 16 * g;
            for (int p = 0; p < 16; p++) {
                float s = 0f;
                if ((p & 1) != 0) s += a;
                if ((p & 2) != 0) s += b;
                if ((p & 4) != 0) s += d;
                if ((p & 8) != 0) s += e;
                tbl[t + p] = s;
            }
        }
    }

    @Override
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl) {
        for (int g = 0, c = c0; c < c1; g++, c += 4) {
            int a = q[qOff + c], b = c + 1 < c1 ? q[qOff + c + 1] : 0;
            int d = c + 2 < c1 ? q[qOff + c + 2] : 0, e = c + 3 < c1 ? q[qOff + c + 3] : 0;
            int t = 32 * g;
            for (int p = 0; p < 16; p++) {
                int s = ((p & 1) != 0 ? a : 0) + ((p & 2) != 0 ? b : 0) + ((p & 4) != 0 ? d : 0) + ((p & 8) != 0 ? e : 0);
                tbl[t + p] = (short) s;
                tbl[t + 16 + p] = (short) s;
            }
        }
    }

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        for (int i = 0; i < PackedTernary.TILE; i++) {
            float s = 0f;
            for (int g = g0; g < g1; g++) {
                int code = codes.get(ValueLayout.JAVA_BYTE, tile + 64L * g + i) & 0xFF;
                int t = tOff + 16 * (g - g0);
                s += tbl[t + (code & 15)] - tbl[t + (code >>> 4)];
            }
            acc[accOff + i] += s;
        }
    }

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        for (int i = 0; i < PackedTernary.TILE; i++) {
            int s = 0;
            for (int g = g0; g < g1; g++) {
                int code = codes.get(ValueLayout.JAVA_BYTE, tile + 64L * g + i) & 0xFF;
                int t = tOff + 32 * (g - g0);
                s += tbl[t + (code & 15)] - tbl[t + (code >>> 4)];
            }
            acc[accOff + i] += s;
        }
    }
}
