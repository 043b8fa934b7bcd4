package tern.eval;

/**
 * One matrix quantized with per-group grids along its input columns.
 *
 * @param dequantized Ŵ [rows·cols], row-major: what a float loader uses
 * @param codes       the integer codes [rows·cols] (0 … 2ᵏ−1)
 * @param scales      the grids' scales [rows · groups]
 * @param zeros       the grids' zero points [rows · groups]
 * @param group       columns per group (cols when the matrix has one group per row)
 */
public record QuantizeResult(int rows, int cols, int bits, int group, float[] dequantized, int[] codes, float[] scales, float[] zeros) {
    public int groups() { return (cols + group - 1) / group; }
}
