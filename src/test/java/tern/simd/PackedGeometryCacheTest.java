package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * The per-weights caches of the packed products ({@link PackedOps#geometry}, {@link PackedTwoBitLayout#of}'s
 * lookup by geometry object): one geometry per weights, reused by every product; never shared by weights
 * that differ in scales, shape or codes, even over the same codes tensor; scales changed in place are seen by
 * the next product. Products through the backend equal those of a geometry made afresh, bit for bit, for
 * both activation types (the int8 path is the 2-bit one where the JVM runs 256 or 128 bits).
 */
class PackedGeometryCacheTest {
    private static final int ROWS = 130, COLS = 301, M = 1;

    private static Tensor codes(byte[] t, int rows, int cols, int shards, ShardAxis axis) {
        Tensor c = Tensor.zeros(DType.T9, (int) (PackedTernary.bytes(rows, cols, shards, axis) / 2));
        PackedTernary.pack(t, rows, cols, new float[shards], axis, c.segment());
        return c;
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /** y through the backend (cached geometry) against y from a geometry made now from the same tensor. */
    private static void assertProductsMatchAFreshGeometry(CpuBackend backend, TernaryWeights w, float[] x, String what) {
        for (PackedMatmul.Activations a : PackedMatmul.Activations.values()) {
            backend.setPackedActivations(a);
            Tensor y = Tensor.zeros(DType.F32, M, w.rows());
            backend.ternaryMatmul(Tensor.of(x, M, w.cols()), w, y, false);
            float[] expected = new float[M * w.rows()];
            PackedTernary fresh = PackedTernary.of(w.packed().segment(), w.rows(), w.cols(), w.scales(), w.axis());
            PackedMatmul.matmul(backend.provider().packed(), fresh, x, M, expected, a);
            assertArrayEquals(expected, y.toFloatArray(), 0f, what + ", " + a);
        }
    }

    @Test
    void oneGeometryPerWeightsIsMadeOnceAndReused() {
        Random rnd = new Random(5);
        try (CpuBackend backend = new CpuBackend();
             Tensor c = codes(PackedMatmulTest.trits(rnd, ROWS * COLS), ROWS, COLS, 1, ShardAxis.ROWS)) {
            TernaryWeights w = backend.loadTernary(c, ROWS, COLS, new float[] {0.37f}, ShardAxis.ROWS);
            PackedTernary g = PackedOps.geometry(w);
            assertSame(g, PackedOps.geometry(w));
            float[] x = gaussian(rnd, COLS);
            assertProductsMatchAFreshGeometry(backend, w, x, "cached");
            assertSame(g, PackedOps.geometry(w), "the products reused it");
        }
    }

    @Test
    void weightsOverTheSameCodesWithOtherScalesOrShardsGetTheirOwnGeometry() {
        Random rnd = new Random(7);
        byte[] t = PackedMatmulTest.trits(rnd, ROWS * COLS);
        try (CpuBackend backend = new CpuBackend(); Tensor c = codes(t, ROWS, COLS, 1, ShardAxis.ROWS);
             Tensor c2 = codes(t, ROWS, COLS, 2, ShardAxis.ROWS)) {
            TernaryWeights a = backend.loadTernary(c, ROWS, COLS, new float[] {0.5f}, ShardAxis.ROWS);
            TernaryWeights b = backend.loadTernary(c, ROWS, COLS, new float[] {2f}, ShardAxis.ROWS);
            // Row shards leave the codes' layout alone (one column segment): c2 holds the same bytes as c, and
            // its weights differ from a's only in the number of scales.
            TernaryWeights two = backend.loadTernary(c2, ROWS, COLS, new float[] {0.5f, 3f}, ShardAxis.ROWS);
            PackedTernary ga = PackedOps.geometry(a), gb = PackedOps.geometry(b), g2 = PackedOps.geometry(two);
            assertNotSame(ga, gb);
            assertArrayEquals(new float[] {0.5f}, ga.scales());
            assertArrayEquals(new float[] {2f}, gb.scales());
            assertArrayEquals(new float[] {0.5f, 3f}, g2.scales());
            float[] x = gaussian(rnd, COLS);
            assertProductsMatchAFreshGeometry(backend, a, x, "γ 0.5");
            assertProductsMatchAFreshGeometry(backend, b, x, "γ 2 over the same codes");
            assertProductsMatchAFreshGeometry(backend, two, x, "two row shards");
            assertSame(ga, PackedOps.geometry(a));
            assertSame(gb, PackedOps.geometry(b));
        }
    }

    @Test
    void weightsOfAnotherShapeOrAxisGetTheirOwnGeometry() {
        Random rnd = new Random(9);
        try (CpuBackend backend = new CpuBackend();
             Tensor c = codes(PackedMatmulTest.trits(rnd, ROWS * COLS), ROWS, COLS, 3, ShardAxis.COLS);
             Tensor d = codes(PackedMatmulTest.trits(rnd, 64 * COLS), 64, COLS, 3, ShardAxis.COLS)) {
            TernaryWeights a = backend.loadTernary(c, ROWS, COLS, new float[] {1f, 2f, 3f}, ShardAxis.COLS);
            TernaryWeights b = backend.loadTernary(d, 64, COLS, new float[] {1f, 2f, 3f}, ShardAxis.COLS);
            PackedTernary ga = PackedOps.geometry(a), gb = PackedOps.geometry(b);
            assertNotSame(ga, gb);
            assertEquals(c.segment().address(), ga.codes().address());
            assertEquals(d.segment().address(), gb.codes().address());
            float[] x = gaussian(rnd, COLS);
            assertProductsMatchAFreshGeometry(backend, a, x, "130 rows, three column shards");
            assertProductsMatchAFreshGeometry(backend, b, x, "64 rows, three column shards");
        }
    }

    @Test
    void scalesChangedInPlaceAreSeenByTheNextProduct() {
        Random rnd = new Random(13);
        try (CpuBackend backend = new CpuBackend();
             Tensor c = codes(PackedMatmulTest.trits(rnd, ROWS * COLS), ROWS, COLS, 1, ShardAxis.ROWS)) {
            TernaryWeights w = backend.loadTernary(c, ROWS, COLS, new float[] {0.37f}, ShardAxis.ROWS);
            PackedTernary before = PackedOps.geometry(w);
            w.scales()[0] = 1.5f;
            PackedTernary after = PackedOps.geometry(w);
            assertNotSame(before, after);
            assertArrayEquals(new float[] {1.5f}, after.scales());
            assertProductsMatchAFreshGeometry(backend, w, gaussian(rnd, COLS), "after the change");
        }
    }

    @Test
    void theTwoBitCopyIsFoundByItsGeometryAndEachGeometryKeepsItsOwnView() {
        Random rnd = new Random(17);
        try (Arena arena = Arena.ofShared()) {
            PackedTernary p = PackedMatmulTest.pack(arena, PackedMatmulTest.trits(rnd, ROWS * COLS), ROWS, COLS, new float[] {1f}, ShardAxis.ROWS);
            PackedTernary other = PackedTernary.of(p.codes(), ROWS, COLS, new float[] {2f}, ShardAxis.ROWS);
            PackedTwoBitLayout a = PackedTwoBitLayout.of(p), b = PackedTwoBitLayout.of(other);
            assertSame(a, PackedTwoBitLayout.of(p), "the same geometry finds the same view");
            assertSame(b, PackedTwoBitLayout.of(other));
            assertSame(a.codes, b.codes, "one copy of the same codes");
            assertSame(p, a.source);
            assertSame(other, b.source, "each view keeps its caller's scales");
            // Geometry objects made per call (as tests do) are served too, and never grow the cache without bound.
            for (int i = 0; i < 1000; i++) {
                PackedTernary g = PackedTernary.of(p.codes(), ROWS, COLS, new float[] {i}, ShardAxis.ROWS);
                PackedTwoBitLayout l = PackedTwoBitLayout.of(g);
                assertSame(g, l.source);
                assertSame(a.codes, l.codes);
            }
        }
    }

    /** A closed model's 2-bit copies do not outlive it: the next copy made drops every closed scope's. */
    @Test
    void copiesOfAClosedScopeAreDroppedWhenTheNextCopyIsMade() {
        Random rnd = new Random(9);
        byte[] t = PackedMatmulTest.trits(rnd, ROWS * COLS);
        long bytes = PackedTernary.bytes(ROWS, COLS, 1, ShardAxis.ROWS);
        Arena first = Arena.ofShared();
        java.lang.foreign.MemorySegment c1 = first.allocate(bytes, 64);
        PackedTernary.pack(t, ROWS, COLS, new float[1], ShardAxis.ROWS, c1);
        PackedTwoBitLayout.of(PackedTernary.of(c1, ROWS, COLS, new float[] {0.5f}, ShardAxis.ROWS));
        first.close();
        org.junit.jupiter.api.Assertions.assertTrue(PackedTwoBitLayout.cachedClosedScopes() >= 1, "the closed scope's copy is still there before a next copy");
        try (Arena second = Arena.ofShared()) {
            java.lang.foreign.MemorySegment c2 = second.allocate(bytes, 64);
            PackedTernary.pack(t, ROWS, COLS, new float[1], ShardAxis.ROWS, c2);
            PackedTwoBitLayout.of(PackedTernary.of(c2, ROWS, COLS, new float[] {0.5f}, ShardAxis.ROWS));
            assertEquals(0, PackedTwoBitLayout.cachedClosedScopes());
        }
    }
}
