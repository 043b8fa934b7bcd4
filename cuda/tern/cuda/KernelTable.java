package tern.cuda;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernels of one CUDA module and each one's parameter kinds, declared by the class that launches them
 * (p pointer, i int, l long, f float: what {@link KernelArgs} passes). {@link KernelSignature} holds every
 * launch to its kernel's declaration and, on the GPU, checks the declaration against the loaded function's
 * parameters when it is loaded; KernelTableTest checks every declaration against the CUDA source's
 * parameter lists without a GPU, and that every kernel of every module is declared once.
 */
final class KernelTable {
    /** Kernel-name suffixes of the activation types (dtype.h's TERN_EACH_TYPE). */
    static final List<String> TYPES = List.of("_f32", "_bf16", "_f16");

    final String module;
    private final Map<String, String> kinds = new LinkedHashMap<>();

    private KernelTable(String module) {
        this.module = module;
    }

    static KernelTable of(String module) {
        return new KernelTable(module);
    }

    /** Kernel {@code name} with parameters {@code kinds}, e.g. "p p i f". */
    KernelTable kernel(String name, String kinds) {
        String compact = kinds.replace(" ", "");
        if (!compact.matches("[pilf]*")) throw new IllegalArgumentException("kernel " + name + ": kinds '" + kinds + "' are not p, i, l or f");
        if (this.kinds.put(name, compact) != null) throw new IllegalArgumentException("kernel " + name + " declared twice in " + module);
        return this;
    }

    /** One kernel per activation type: stem_f32, stem_bf16, stem_f16 (TERN_EACH_TYPE). */
    KernelTable typed(String stem, String kinds) {
        for (String t : TYPES) kernel(stem + t, kinds);
        return this;
    }

    /** One kernel per (input, output) pair of activation types: stem_f32_f32 ... stem_f16_f16 (TERN_EACH_PAIR). */
    KernelTable paired(String stem, String kinds) {
        for (String a : TYPES) for (String b : TYPES) kernel(stem + a + b, kinds);
        return this;
    }

    /** Kernel name → compact kinds ("ppif"), in declaration order. */
    Map<String, String> kernels() {
        return Collections.unmodifiableMap(kinds);
    }

    /** The table of every module (Kernels.SOURCES and AMPERE_SOURCES), each from its launcher. */
    static List<KernelTable> all() {
        return List.of(Elementwise.KERNELS, SwiGlu.KERNELS, AdamW.KERNELS, RmsNorm.KERNELS, Rope.KERNELS, Embedding.KERNELS,
                CrossEntropy.KERNELS, Quantizers.KERNELS, TernaryPacking.KERNELS, TiledMatmul.KERNELS, Attention.KERNELS,
                CudaGraphDecodeStep.KERNELS, TernaryGemv.KERNELS, TensorCoreAttention.KERNELS, PackedGemv.KERNELS);
    }

    private static volatile Map<String, String> byName;

    /** The declared kinds of {@code kernel} in any module, or null when none declares it. */
    static String kindsOf(String kernel) {
        Map<String, String> m = byName;
        if (m == null) {
            m = new java.util.HashMap<>();
            for (KernelTable t : all()) m.putAll(t.kinds);
            byName = m;
        }
        return m.get(kernel);
    }
}
