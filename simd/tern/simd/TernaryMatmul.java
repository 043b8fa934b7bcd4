package tern.simd;

import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Absmean ternary quantization and the ternary matrix products of the CPU backend: y = x·(γT)ᵀ (forward
 * and decode) and dx = dy·(γT) (input gradient), computed by adding and subtracting activations chosen by
 * T, with one multiplication by γ per output and shard.
 *
 * <h2>Quantizer</h2>
 * Per shard γ = ε + mean|w| (mean in double), T = clamp(rint(w / γ), −1, 1) with rint rounding half to
 * even (torch.round). Checked against the sources (SPEC.md CHECK item):
 * <ul>
 * <li>BitNet b1.58 (arXiv 2402.17764, eq. 1–3) divides by (γ + ε) with γ = mean|W|: ε is inside the
 *     division. The authors' published reference code ("The Era of 1-bit LLMs: Training Tips, Code and
 *     FAQ", quoted in many repositories found with the search tool, e.g. {@code weight_quant}:
 *     {@code scale = 1/w.abs().mean().clamp_(min=1e-5)}) uses max(mean|W|, 1e-5) instead of a sum; the
 *     two differ by at most 1e-5 in γ. ε = 1e-5 there.</li>
 * <li>Spectra (arXiv 2407.12327) states γ = ε + mean|W| and divides by that γ (so ε is inside the
 *     division and the dequantized weight is γ·T with the same γ). We could not read the paper's value of
 *     ε through the search tool; the SpectraSuite repository README (NolanoOrg/SpectraSuite) confirms
 *     only the per-shard scales (at most MP distinct magnitudes per matrix). We therefore take ε from the
 *     caller (the model uses BitNet's 1e-5) and put it inside γ exactly as Backend's contract says.</li>
 * </ul>
 *
 * <h2>Packed layout (the contract for packed model files)</h2>
 * The packed tensor is {@link DType#I8}, one dimension, and holds T in two <em>panels</em> of the same
 * format: first T as [rows = out, cols = in] (read by the forward and decode products), then Tᵀ as
 * [in, out] (read by the input gradient). An inference file needs only the first panel. A panel of
 * logical R × C ({@link TernaryPanel}):
 * <ul>
 * <li>its columns are cut into segments, one per shard when the shards cut the columns (otherwise one),
 *     and each segment into groups of 4 columns; a segment's last group is padded with zero weights, so
 *     no group straddles two scales. G = total groups;</li>
 * <li>rows are padded with zero weights to a multiple of 64 and cut into blocks of 16 rows;</li>
 * <li>one byte per (row, group): low nibble = plus mask, high nibble = minus mask; bit t of a nibble is
 *     the group's column t (T = +1: plus bit, −1: minus bit, 0: neither);</li>
 * <li>byte of (row r, group g) at {@code ((r/16)·G + g)·16 + r%16}: a block's 16 codes of one group are
 *     adjacent, and a block's groups follow each other.</li>
 * </ul>
 * That is 2 bits per weight per panel. Why this layout: the kernels precompute, per activation row and
 * group, the 16 subset sums of the group's 4 activations (a table that fills one 512-bit register); a
 * block's 16 code bytes, widened to int lanes, then index that table for 16 outputs at once
 * ({@link TernaryVector}): per 64 weights one code load, two permutes and two adds, no multiply. The
 * decode product (one activation row) streams the first panel once, sequentially per block, 2 bits per
 * weight: at 16384² it measured 8.7–10× faster than the f32 matvec (BENCHMARKS.md), bounded by the
 * permute rate (about 48 G weights/s per core) rather than by memory. The input gradient uses the same kernel on the second
 * panel, which is why training keeps both (4 bits per weight, still 8× smaller than f32).
 */
public final class TernaryMatmul {
    private static final TernaryKernels PREFERRED = KernelProvider.preferred().ternary();

    /** Bytes of codes one chunk of output units should keep hot in L2 while rows of activations pass. */
    private static final long L2_CODES = 256 * 1024;

    /** Per-thread tables (4 rows) and one padded activation row, grown on demand and reused across calls. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    private TernaryMatmul() {}

    // ---- quantizer --------------------------------------------------------------------------------

    /** T = clamp(rint(w/γ), −1, 1), rint rounding half to even (as torch.round). */
    static float ternary(float w, float gamma) {
        return Math.max(-1f, Math.min(1f, (float) Math.rint(w / gamma)));
    }

    /** The per-shard absmean scales γ_s = ε + mean|w| over shard s (sums in double). */
    public static float[] scales(Tensor w, int shards, ShardAxis axis, float eps) {
        requireHostF32("w", w);
        int rows = w.rows(), cols = w.cols();
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        if (shards < 1 || shards > Math.max(1, extent))
            throw new IllegalArgumentException("cannot cut " + w.describe() + " into " + shards + " shards along " + axis);
        MemorySegment src = w.segment();
        double[] sum = new double[shards];
        long[] count = new long[shards];
        float[] row = new float[cols];
        // Element by element in row-major order, so the sums are exactly reproducible by a plain reference;
        // shard boundaries are walked as ranges (no division per element).
        int[] start = new int[shards + 1];
        for (int s = 0; s <= shards; s++) start[s] = (int) (((long) s * extent + shards - 1) / shards);
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, (long) r * cols * Float.BYTES, row, 0, cols);
            if (axis == ShardAxis.ROWS) {
                int s = shardOf(r, rows, shards);
                double acc = sum[s];
                for (int c = 0; c < cols; c++) acc += Math.abs(row[c]);
                sum[s] = acc;
                count[s] += cols;
            } else {
                for (int s = 0; s < shards; s++) {
                    double acc = sum[s];
                    for (int c = start[s]; c < start[s + 1]; c++) acc += Math.abs(row[c]);
                    sum[s] = acc;
                    count[s] += start[s + 1] - start[s];
                }
            }
        }
        float[] gamma = new float[shards];
        for (int s = 0; s < shards; s++) gamma[s] = eps + (float) (count[s] == 0 ? 0 : sum[s] / count[s]);
        return gamma;
    }

    static int shardOf(int index, int extent, int shards) {
        return (int) ((long) index * shards / extent);
    }

    /**
     * T = clamp(rint(w/γ), −1, 1) of w [out, in] as one byte per weight, row-major, with the scales of
     * {@link #scales} cut along {@code axis}: the trits a packed inference file stores.
     */
    public static byte[] trits(Tensor w, float[] gamma, ShardAxis axis) {
        requireHostF32("w", w);
        int rows = w.rows(), cols = w.cols();
        byte[] t = new byte[Math.multiplyExact(rows, cols)];
        MemorySegment src = w.segment();
        Parallel.range(rows, rowsPerChunk(cols), (r0, r1) -> {
            float[] row = new float[cols];
            for (int r = r0; r < r1; r++) {
                MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, (long) r * cols * Float.BYTES, row, 0, cols);
                for (int c = 0; c < cols; c++) {
                    float g = gamma[axis == ShardAxis.ROWS ? shardOf(r, rows, gamma.length) : shardOf(c, cols, gamma.length)];
                    t[r * cols + c] = (byte) ternary(row[c], g);
                }
            }
        });
        return t;
    }

    /** Backend.packTernary: quantizes w [out, in] and packs T in both panels (see the class comment). */
    public static TernaryWeights pack(Tensor w, int shards, ShardAxis axis, float eps) {
        float[] gamma = scales(w, shards, axis, eps);
        int rows = w.rows(), cols = w.cols();
        TernaryPanel fwd = forwardPanel(rows, cols, gamma.length, axis), bwd = backwardPanel(rows, cols, gamma.length, axis);
        long bytes = bwd.offset() + bwd.bytes();
        if (bytes > Integer.MAX_VALUE || (long) rows * cols > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException(w.describe() + " is too large to pack in one tensor");
        // T once, row-major, one byte per weight: both panels are cut from it.
        byte[] t = new byte[rows * cols];
        float[] colScale = new float[cols];
        for (int c = 0; c < cols; c++) colScale[c] = gamma[axis == ShardAxis.COLS ? shardOf(c, cols, gamma.length) : 0];
        MemorySegment src = w.segment();
        Parallel.range(rows, rowsPerChunk(cols), (r0, r1) -> {
            float[] row = new float[cols];
            for (int r = r0; r < r1; r++) {
                MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, (long) r * cols * Float.BYTES, row, 0, cols);
                float rowScale = gamma[axis == ShardAxis.ROWS ? shardOf(r, rows, gamma.length) : 0];
                for (int c = 0; c < cols; c++)
                    t[r * cols + c] = (byte) ternary(row[c], axis == ShardAxis.ROWS ? rowScale : colScale[c]);
            }
        });
        Tensor packed = Tensor.zeros(DType.I8, (int) Math.max(1, bytes));
        MemorySegment dst = packed.segment();
        writeForward(fwd, t, dst);
        writeTransposed(bwd, t, rows, cols, dst);
        return new TernaryWeights(packed, rows, cols, gamma, axis);
    }

    /** The code byte of up to 4 weights: bit i of the low nibble for +1, of the high nibble for −1. */
    private static int code(byte t0, byte t1, byte t2, byte t3) {
        return plus(t0) | plus(t1) << 1 | plus(t2) << 2 | plus(t3) << 3
                | (minus(t0) | minus(t1) << 1 | minus(t2) << 2 | minus(t3) << 3) << 4;
    }

    private static int plus(byte t) { return t > 0 ? 1 : 0; }
    private static int minus(byte t) { return t < 0 ? 1 : 0; }

    /** The forward panel: row r of T, its segments cut into groups of 4 columns. */
    private static void writeForward(TernaryPanel p, byte[] t, MemorySegment dst) {
        int cols = p.cols();
        Parallel.range(p.rows(), rowsPerChunk(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int s = 0; s < p.segments(); s++) {
                    int end = p.segStart()[s + 1];
                    for (int c = p.segStart()[s], g = p.groupStart()[s]; c < end; c += 4, g++) {
                        int at = r * cols + c;
                        byte t0 = t[at], t1 = c + 1 < end ? t[at + 1] : 0, t2 = c + 2 < end ? t[at + 2] : 0, t3 = c + 3 < end ? t[at + 3] : 0;
                        dst.set(ValueLayout.JAVA_BYTE, p.at(r, g), (byte) code(t0, t1, t2, t3));
                    }
                }
        });
    }

    /** The transposed panel: its row c is column c of T; its groups are 4 consecutive rows of T. */
    private static void writeTransposed(TernaryPanel p, byte[] t, int rows, int cols, MemorySegment dst) {
        // One segment: threads split the groups (4 rows of T each); several: they split the segments.
        int units = p.segments() == 1 ? p.groups() : p.segments();
        int minUnits = (int) Math.min(units, Math.max(1, (long) PACK_WEIGHTS_PER_CHUNK * units / ((long) rows * cols)));
        Parallel.range(units, minUnits, (i0, i1) -> {
            for (int s = 0; s < p.segments(); s++) {
                int end = p.segStart()[s + 1];
                for (int g = p.groupStart()[s]; g < p.groupStart()[s + 1]; g++) {
                    int owner = p.segments() == 1 ? g : s;
                    if (owner < i0 || owner >= i1) continue;
                    int r = p.segStart()[s] + 4 * (g - p.groupStart()[s]);
                    int a0 = r * cols, a1 = r + 1 < end ? a0 + cols : -1, a2 = r + 2 < end ? a0 + 2 * cols : -1;
                    int a3 = r + 3 < end ? a0 + 3 * cols : -1;
                    for (int c = 0; c < cols; c++) {
                        int code = code(t[a0 + c], a1 < 0 ? 0 : t[a1 + c], a2 < 0 ? 0 : t[a2 + c], a3 < 0 ? 0 : t[a3 + c]);
                        dst.set(ValueLayout.JAVA_BYTE, p.at(c, g), (byte) code);
                    }
                }
            }
        });
    }

    /**
     * Weights a packing pass gives one thread at least: below this a fork costs more than it saves (a Spectra-size
     * matrix still splits over every core; the tiny preset's 64×64 ones pack on the calling thread).
     */
    private static final int PACK_WEIGHTS_PER_CHUNK = 1 << 16;

    private static int rowsPerChunk(int cols) {
        return Math.max(1, PACK_WEIGHTS_PER_CHUNK / Math.max(1, cols));
    }

    /** T as [out, in]; its column segments are the shards when they cut the input columns. */
    static TernaryPanel forwardPanel(int rows, int cols, int shards, ShardAxis axis) {
        return TernaryPanel.of(rows, cols, axis == ShardAxis.COLS ? shards : 1, 0);
    }

    /** Tᵀ as [in, out], right after the forward panel; its column segments are the row shards. */
    static TernaryPanel backwardPanel(int rows, int cols, int shards, ShardAxis axis) {
        return TernaryPanel.of(cols, rows, axis == ShardAxis.ROWS ? shards : 1, forwardPanel(rows, cols, shards, axis).bytes());
    }

    /** T[r][c] ∈ {−1, 0, 1} read back from a panel. */
    static int code(MemorySegment packed, TernaryPanel p, int r, int c) {
        int code = packed.get(ValueLayout.JAVA_BYTE, p.at(r, p.groupOf(c)));
        int bit = p.bitOf(c);
        return (code >>> bit & 1) - (code >>> (bit + 4) & 1);
    }

    /** Backend.unpackTernary: out [rows, cols] ← γ·T, read from the forward panel. */
    public static void unpack(TernaryWeights w, Tensor out) {
        requireHostF32("out", out);
        if (out.rows() != w.rows() || out.cols() != w.cols())
            throw new IllegalArgumentException("unpack of ternary [" + w.rows() + ", " + w.cols() + "] into " + out.describe());
        TernaryPanel p = forwardPanel(w.rows(), w.cols(), w.shards(), w.axis());
        requirePacked(w, p.offset() + p.bytes());
        MemorySegment packed = w.packed().segment(), dst = out.segment();
        int rows = w.rows(), cols = w.cols();
        Parallel.range(rows, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int c = 0; c < cols; c++)
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * cols + c,
                            code(packed, p, r, c) * w.scales()[w.shardOf(w.axis() == ShardAxis.ROWS ? r : c)]);
        });
    }

    // ---- products ---------------------------------------------------------------------------------

    /** Backend.ternaryMatmul: y [m, out] ← x [m, in] · (γT)ᵀ (+ y if accumulate). */
    public static void forward(Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        forward(PREFERRED, x, w, y, accumulate);
    }

    /** Backend.ternaryMatmulT: dx [m, in] ← dy [m, out] · (γT) (+ dx if accumulate). */
    public static void backward(Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        backward(PREFERRED, dy, w, dx, accumulate);
    }

    static void forward(TernaryKernels k, Tensor x, TernaryWeights w, Tensor y, boolean accumulate) {
        checkProduct("ternaryMatmul", "x", x, w.cols(), "y", y, w.rows(), w);
        TernaryPanel p = forwardPanel(w.rows(), w.cols(), w.shards(), w.axis());
        requirePacked(w, p.offset() + p.bytes());
        multiply(k, p, w, w.axis() == ShardAxis.COLS, x, y, accumulate);
    }

    static void backward(TernaryKernels k, Tensor dy, TernaryWeights w, Tensor dx, boolean accumulate) {
        checkProduct("ternaryMatmulT", "dy", dy, w.rows(), "dx", dx, w.cols(), w);
        TernaryPanel p = backwardPanel(w.rows(), w.cols(), w.shards(), w.axis());
        requirePacked(w, p.offset() + p.bytes());
        multiply(k, p, w, w.axis() == ShardAxis.ROWS, dy, dx, accumulate);
    }

    /**
     * out [m, P.rows] ← a [m, P.cols] · (scaled P)ᵀ. With {@code segmentScales} segment s of P's columns
     * has scale γ_s (each output gets one multiply per segment); otherwise output o has the scale of its
     * row shard (one multiply per output).
     */
    private static void multiply(TernaryKernels k, TernaryPanel p, TernaryWeights w, boolean segmentScales,
                                 Tensor a, Tensor out, boolean accumulate) {
        int m = a.rows(), n = p.rows(), groups = p.groups();
        if (m == 0 || n == 0) return;
        MemorySegment as = a.segment(), os = out.segment(), codes = w.packed().segment();
        float[] gamma = w.scales();
        // The scale of each output row, when the shards cut the rows (so the inner loop has no division).
        float[] rowScale = new float[segmentScales ? 0 : n];
        for (int o = 0; o < rowScale.length; o++) rowScale[o] = gamma[shardOf(o, n, gamma.length)];
        int unit = TernaryPanel.ROW_UNIT, units = p.paddedRows() / unit;
        long workPerUnit = (long) m * groups * unit;
        if (units >= 2 * Parallel.THREADS || m <= 4) {
            // Threads split the units of 64 output rows; every thread passes every row of a over its units.
            Parallel.range(units, (int) Math.max(1, (1L << 18) / Math.max(1, workPerUnit)),
                    (u0, u1) -> span(k, p, gamma, rowScale, segmentScales, as, codes, os, accumulate, 0, m, u0, u1));
        } else {
            // Few units (a 64- or 192-wide layer) would leave a thread idle or with half the work: threads split
            // the rows of a into blocks of 4 instead, each passing its rows over all units. The blocks of 4 are
            // those of the serial loop, so the result is the same bit for bit.
            int blocks = (m + 3) / 4;
            long workPerBlock = 4L * groups * p.paddedRows();
            Parallel.range(blocks, (int) Math.max(1, (1L << 18) / Math.max(1, workPerBlock)),
                    (b0, b1) -> span(k, p, gamma, rowScale, segmentScales, as, codes, os, accumulate,
                            4 * b0, Math.min(m, 4 * b1), 0, units));
        }
    }

    /** Rows [rFrom, rTo) of a (rFrom a multiple of 4) times output units [u0, u1) of the panel. */
    private static void span(TernaryKernels k, TernaryPanel p, float[] gamma, float[] rowScale, boolean segmentScales,
                             MemorySegment as, MemorySegment codes, MemorySegment os, boolean accumulate,
                             int rFrom, int rTo, int u0, int u1) {
        int n = p.rows(), groups = p.groups(), stride = 16 * groups, unit = TernaryPanel.ROW_UNIT;
        long blockBytes = 16L * groups;
        int unitsPerChunk = (int) Math.max(1, L2_CODES / Math.max(1, 4 * blockBytes));
        float[] sums = new float[4 * unit], acc = new float[4 * unit], old = new float[unit];
        float[][] scratch = SCRATCH.get();
        if (scratch[0].length < 4 * stride) scratch[0] = new float[4 * stride];
        if (scratch[1].length < 4 * groups) scratch[1] = new float[4 * groups];
        float[] tbl = scratch[0], padded = scratch[1];
        // Units of 64 output rows in chunks whose codes stay in L2 while every row of a passes over them;
        // each thread builds the tables of 4 rows at a time (a few hundred KiB at most), used by the
        // whole chunk: a small, repeated cost (about 1/n of the sums) instead of tables for all m rows.
        // With a single tile of rows (decode) the codes are read once anyway: one chunk, tables built once.
        int chunk = rTo - rFrom <= 4 ? u1 - u0 : unitsPerChunk;
        for (int c0 = u0; c0 < u1; c0 += chunk)
            for (int r0 = rFrom; r0 < rTo; r0 += 4) {
                int xr = Math.min(4, rTo - r0);
                for (int r = 0; r < xr; r++) tables(k, p, as, r0 + r, padded, tbl, r * stride);
                for (int u = c0; u < Math.min(u1, c0 + chunk); u++) {
                    int o0 = u * unit, on = Math.min(unit, n - o0);
                    if (on <= 0) continue;
                    for (int s = 0; s < p.segments(); s++) {
                        k.sums(tbl, 0, stride, xr, codes, blockBytes, p.offset(), 4 * u,
                                p.groupStart()[s], p.groupStart()[s + 1], sums, 0, unit);
                        // The one multiplication by γ per output and segment.
                        for (int r = 0; r < xr; r++)
                            for (int j = 0, i = r * unit; j < on; j++, i++) {
                                float g = segmentScales ? gamma[s] : rowScale[o0 + j];
                                acc[i] = s == 0 ? g * sums[i] : acc[i] + g * sums[i];
                            }
                    }
                    for (int r = 0; r < xr; r++) {
                        long at = ((long) (r0 + r) * n + o0) * Float.BYTES;
                        if (accumulate) {
                            MemorySegment.copy(os, ValueLayout.JAVA_FLOAT, at, old, 0, on);
                            for (int j = 0; j < on; j++) acc[r * unit + j] += old[j];
                        }
                        MemorySegment.copy(acc, r * unit, os, ValueLayout.JAVA_FLOAT, at, on);
                    }
                }
            }
    }

    /** tbl[at ..] ← the subset-sum tables of row r of a, over P's column groups ([groups][16]). */
    private static void tables(TernaryKernels k, TernaryPanel p, MemorySegment a, int r, float[] padded, float[] tbl, int at) {
        int cols = p.cols();
        for (int s = 0; s < p.segments(); s++) {
            int from = p.segStart()[s], len = p.segStart()[s + 1] - from, to = 4 * p.groupStart()[s];
            MemorySegment.copy(a, ValueLayout.JAVA_FLOAT, ((long) r * cols + from) * Float.BYTES, padded, to, len);
            java.util.Arrays.fill(padded, to + len, 4 * p.groupStart()[s + 1], 0f);
        }
        k.tables(padded, 0, p.groups(), tbl, at);
    }

    // ---- checks ---------------------------------------------------------------------------------------

    private static void checkProduct(String op, String inName, Tensor in, int inCols, String outName, Tensor out,
                                     int outCols, TernaryWeights w) {
        requireHostF32(inName, in);
        requireHostF32(outName, out);
        if (in.cols() != inCols || out.rows() != in.rows() || out.cols() != outCols)
            throw new IllegalArgumentException(op + " shapes do not fit: " + inName + " " + in.describe() + ", ternary W ["
                    + w.rows() + ", " + w.cols() + "], " + outName + " " + out.describe()
                    + " (need " + inName + " [m, " + inCols + "] and " + outName + " [m, " + outCols + "])");
    }

    private static void requirePacked(TernaryWeights w, long bytes) {
        if (w.packed().device() != Device.CPU || w.packed().byteSize() < bytes)
            throw new IllegalArgumentException("packed ternary " + w.packed().describe() + " for [" + w.rows() + ", "
                    + w.cols() + "] needs " + bytes + " host bytes in the CPU layout");
    }

    private static void requireHostF32(String name, Tensor t) {
        if (t.dtype() != DType.F32 || t.device() != Device.CPU)
            throw new IllegalArgumentException(name + " must be a host f32 tensor, not " + t.describe());
    }
}
