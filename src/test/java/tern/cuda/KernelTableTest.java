package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

/**
 * Every kernel's declared parameter kinds (each launcher's {@link KernelTable}) against the parameter list in
 * its CUDA source, as Kernels.java assembles it for NVRTC, with no GPU: one table per module, every extern "C"
 * kernel of the module declared, nothing declared that the module lacks, each parameter of the declared kind
 * (pointer, int, long, float), and no kernel name in two modules (kernels are looked up by name). On the GPU
 * the same declarations are checked against the driver's parameter sizes when each function is loaded.
 */
class KernelTableTest {
    private static List<String> modules() {
        List<String> all = new ArrayList<>(Kernels.SOURCES);
        all.addAll(Kernels.AMPERE_SOURCES);
        return all;
    }

    @Test
    void oneTablePerModule() {
        Map<String, Integer> tables = new HashMap<>();
        for (KernelTable t : KernelTable.all()) tables.merge(t.module, 1, Integer::sum);
        assertEquals(new TreeSet<>(modules()), new TreeSet<>(tables.keySet()), "modules with a table vs modules loaded");
        tables.forEach((m, n) -> assertEquals(1, n, m + " has " + n + " tables"));
    }

    @Test
    void everyDeclarationMatchesItsSource() {
        Map<String, KernelTable> byModule = new HashMap<>();
        for (KernelTable t : KernelTable.all()) byModule.put(t.module, t);
        List<String> problems = new ArrayList<>();
        int kernels = 0;
        for (String module : modules()) {
            Map<String, String> source = new HashMap<>();
            CudaKernelDefinitions.of(Kernels.source(module)).forEach((k, v) -> source.put(k, v.replace(" ", "")));
            Map<String, String> declared = byModule.get(module).kernels();
            for (var e : source.entrySet()) {
                String d = declared.get(e.getKey());
                if (d == null) problems.add(module + ".cu: " + e.getKey() + " (" + e.getValue() + ") is not declared");
                else if (!d.equals(e.getValue()))
                    problems.add(module + ".cu: " + e.getKey() + " takes (" + e.getValue() + "), declared (" + d + ")");
            }
            for (String k : declared.keySet())
                if (!source.containsKey(k)) problems.add(module + ": declares " + k + ", which " + module + ".cu does not define");
            kernels += source.size();
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
        // tools/gpu/kernel-identity.sh counts 139 extern "C" kernels in the sm_80/sm_90 cubins of these sources
        // (138, and attention_mma.cu's attn_rope_qk_bf16)
        assertEquals(139, kernels, "kernels parsed from the sources");
    }

    @Test
    void noKernelNameIsInTwoModules() {
        Map<String, String> seen = new HashMap<>();
        for (KernelTable t : KernelTable.all())
            for (String k : t.kernels().keySet()) {
                String other = seen.put(k, t.module);
                assertTrue(other == null, k + " is declared in both " + other + " and " + t.module);
            }
    }

    @Test
    void theParserExpandsMacrosAndPastesNames() {
        String src = """
                #define EACH(M) M(f32, float) M(bf16, bf16)
                // a comment naming extern "C" __global__ void not_a_kernel(int x)
                #define K(S, T, SUF) \\
                    extern "C" __global__ void __launch_bounds__(256, 2) k_##S##SUF(const T* __restrict__ x, long n, \\
                                                                                 unsigned u, float f) { }
                #define BOTH(S, T) K(S, T, ) K(S, T, _out)
                EACH(BOTH)
                extern "C" __global__ void plain(long long n, const float2* t) { }
                """;
        Map<String, String> k = CudaKernelDefinitions.of(src);
        assertEquals(List.of("k_f32", "k_f32_out", "k_bf16", "k_bf16_out", "plain"), new ArrayList<>(k.keySet()));
        assertEquals("p l i f", k.get("k_bf16_out"));
        assertEquals("l p", k.get("plain"));
    }

    @Test
    void aParameterTypeLaunchesCannotPassIsNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> CudaKernelDefinitions.of("extern \"C\" __global__ void k(double d, int n) { }"));
        assertTrue(e.getMessage().contains("kernel k") && e.getMessage().contains("double d"), e.getMessage());
    }
}
