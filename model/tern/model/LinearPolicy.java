package tern.model;

import tern.runtime.Granularity;

/**
 * How a block linear layer turns its float latent weight W into the weight it multiplies by. The policy is
 * data: {@link Linear} switches on it, so a model can move from one policy to another mid-run (continual
 * quantization-aware training). Every quantized policy trains with a straight-through gradient to W.
 */
public sealed interface LinearPolicy {

    /** FloatLM: y = x·Wᵀ. */
    record Float() implements LinearPolicy {
        @Override public String label() { return "float"; }
    }

    /**
     * TriLM: W ≈ γ·T, γ = ε + mean|W| per shard, T = clamp(round(W/γ), −1, 1). {@code shards} is the
     * Spectra model-parallel size: each shard of a matrix has its own γ.
     */
    record Ternary(int shards) implements LinearPolicy {
        public Ternary {
            if (shards < 1) throw new IllegalArgumentException("ternary shards must be ≥ 1, got " + shards);
        }
        @Override public String label() { return "ternary"; }
    }

    /** BiLM: W ≈ α·sign(W), α = mean|W| per granularity unit (per matrix for TENSOR). */
    record Binary(Granularity granularity) implements LinearPolicy {
        public Binary {
            if (granularity == null) throw new IllegalArgumentException("binary granularity is null");
        }
        @Override public String label() { return granularity == Granularity.TENSOR ? "binary" : "binary-row"; }
    }

    /** Symmetric k-bit integer fake quantization, per tensor or per output channel (ROW). */
    record Int(int bits, Granularity granularity) implements LinearPolicy {
        public Int {
            if (bits < 2 || bits > 16) throw new IllegalArgumentException("int bits must be in 2..16, got " + bits);
            if (granularity == null) throw new IllegalArgumentException("int granularity is null");
        }
        @Override public String label() { return "int" + bits + (granularity == Granularity.ROW ? "-row" : ""); }
    }

    LinearPolicy FLOAT = new Float();

    /** The name written to config.json ("float", "ternary", "binary", "binary-row", "int4", "int8-row", …). */
    String label();

    /** True for every policy but {@link Float}. */
    default boolean quantized() { return !(this instanceof Float); }

    /** The inverse of {@link #label()}; {@code shards} applies to "ternary" only. */
    static LinearPolicy parse(String label, int shards) {
        String s = label.trim().toLowerCase(java.util.Locale.ROOT);
        switch (s) {
            case "float", "fp16", "bf16", "fp32" -> { return FLOAT; }
            case "ternary", "1.58" -> { return new Ternary(shards); }
            case "binary" -> { return new Binary(Granularity.TENSOR); }
            case "binary-row" -> { return new Binary(Granularity.ROW); }
            default -> { }
        }
        if (s.startsWith("int")) {
            boolean row = s.endsWith("-row");
            String digits = s.substring(3, row ? s.length() - 4 : s.length());
            try {
                return new Int(Integer.parseInt(digits), row ? Granularity.ROW : Granularity.TENSOR);
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("unknown precision '" + label
                + "' (known: float, ternary, binary, binary-row, int<k>, int<k>-row with 2 ≤ k ≤ 16)");
    }
}
