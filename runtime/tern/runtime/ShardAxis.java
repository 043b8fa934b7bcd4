package tern.runtime;

/**
 * How a ternary matrix [out, in] is cut into model-parallel shards, each with its own absmean scale
 * (Spectra: every tensor-parallel rank computes gamma over its own slice). Column-parallel layers
 * (q, k, v, gate, up) are cut along the output rows; row-parallel layers (o, down) along the input columns.
 */
public enum ShardAxis { ROWS, COLS }
