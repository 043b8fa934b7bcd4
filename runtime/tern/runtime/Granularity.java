package tern.runtime;

/**
 * How many scales a quantizer uses on a [rows, cols] tensor. Per-row is per output channel for a weight
 * stored [out, in], and per token for activations stored [tokens, features].
 */
public enum Granularity { TENSOR, ROW }
