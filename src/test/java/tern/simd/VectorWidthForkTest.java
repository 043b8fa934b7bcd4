package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tern.runtime.ShardAxis;

/**
 * What a JVM picks on its own: forked JVMs with {@code -XX:MaxVectorSize=16} / {@code =32} (the widths
 * of NEON and AVX2) take 128 / 256 bits, a wider request is clamped, {@code -Dtern.simd.bits=0} is scalar
 * everywhere, and in each the packed products (float and int8 activations, ragged shapes) and four
 * training steps of a ternary model agree with the scalar kernels (1e-4 relative per output, 1e-5 per
 * loss: only summation orders differ).
 */
class VectorWidthForkTest {

    /** Forked-JVM entry point: prints the width, then "ok" if the vector kernels agree with the scalar ones. */
    public static void main(String[] args) {
        System.out.println(Vectorization.BITS + " " + Vectorization.describe());
        System.out.println(KernelProvider.preferred().packed().getClass().getSimpleName());
        Random rnd = new Random(7);
        try (var arena = java.lang.foreign.Arena.ofShared()) {
            int rows = 130, cols = 301;   // ragged: not whole tiles, groups or vectors
            byte[] t = PackedMatmulTest.trits(rnd, rows * cols);
            PackedTernary w = PackedMatmulTest.pack(arena, t, rows, cols, new float[] {0.7f, 1.3f}, ShardAxis.COLS);
            float[] x = new float[3 * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            for (PackedMatmul.Activations a : PackedMatmul.Activations.values())
                for (int m : new int[] {1, 3}) {
                    float[] vy = new float[m * rows], sy = new float[m * rows];
                    PackedMatmul.matmul(KernelProvider.preferred().packed(), w, x, m, vy, a);
                    PackedMatmul.matmul(PackedScalar.INSTANCE, w, x, m, sy, a);
                    for (int i = 0; i < vy.length; i++)
                        if (Math.abs(vy[i] - sy[i]) > 1e-4f * (1 + Math.abs(sy[i])))
                            throw new AssertionError(a + " m=" + m + " output " + i + ": vector " + vy[i] + ", scalar " + sy[i]);
                }
        }
        float[] here = WithoutVectorModuleTest.losses(new CpuBackend());
        float[] scalar = WithoutVectorModuleTest.losses(CpuBackend.scalar());
        for (int i = 0; i < here.length; i++)
            if (Math.abs(here[i] - scalar[i]) > 1e-5 * Math.abs(scalar[i]))
                throw new AssertionError("loss " + i + ": vector " + here[i] + ", scalar " + scalar[i]);
        System.out.println("ok");
    }

    private static String[] fork(String... flags) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m"));
        cmd.addAll(List.of(flags));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), VectorWidthForkTest.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "forked JVM did not finish");
        assertEquals(0, p.exitValue(), out);
        String[] lines = out.lines().filter(l -> !l.startsWith("WARNING")).toArray(String[]::new);
        assertEquals("ok", lines[lines.length - 1], out);
        return lines;
    }

    @Test
    void maxVectorSize16Picks128BitsAndAgreesWithScalar() throws Exception {
        String[] lines = fork("-XX:MaxVectorSize=16");
        assertTrue(lines[0].startsWith("128 Vector API 128-bit"), lines[0]);
    }

    @Test
    void maxVectorSize32ClampsA512BitRequestTo256() throws Exception {
        String[] lines = fork("-XX:MaxVectorSize=32", "-Dtern.simd.bits=512");
        assertTrue(lines[0].startsWith("256 Vector API 256-bit") && lines[0].contains("clamped"), lines[0]);
    }

    /** Real AVX2 (where the CPU has it): 256 bits, the 2-bit packed kernels, and agreement with scalar. */
    @Test
    void useAvx2PicksTheDecodingKernelsAndAgreesWithScalar() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("os.arch").matches("amd64|x86_64") && VectorInfo.preferredBits() >= 256,
                "needs an x86 CPU with AVX2");
        String[] lines = fork("-XX:UseAVX=2", "-Dtern.simd.bits=512");
        assertTrue(lines[0].startsWith("256 Vector API 256-bit"), lines[0]);
        assertTrue(lines[1].startsWith("PackedTwoBit"), lines[1]);
    }

    @Test
    void bitsZeroIsTheScalarPathEverywhere() throws Exception {
        String[] lines = fork("-Dtern.simd.bits=0");
        assertTrue(lines[0].startsWith("0 scalar (forced by -Dtern.simd.bits=0)"), lines[0]);
    }
}
