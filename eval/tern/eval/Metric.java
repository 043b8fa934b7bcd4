package tern.eval;

/** A reported number with its standard error (NaN where none is defined, e.g. fewer than two items). */
public record Metric(String name, double value, double stderr) {}
