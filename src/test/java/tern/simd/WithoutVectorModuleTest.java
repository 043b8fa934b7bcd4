package tern.simd;

import org.junit.jupiter.api.Test;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.Tape;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The jar without {@code --add-modules jdk.incubator.vector}: a fresh JVM on the same class path takes the
 * scalar path (no Vector API class is loaded) and computes the same training losses as this JVM, which
 * has the module. Scalar and vector reductions add in different orders, so "the same" is f32 agreement:
 * 1e-5 relative on a loss after a few AdamW steps.
 */
class WithoutVectorModuleTest {

    /** Entry point of the forked JVM: prints the kernel path, then the losses of 4 training steps. */
    public static void main(String[] args) {
        System.out.println(Vectorization.describe());
        for (float loss : losses(new CpuBackend())) System.out.println(loss);
    }

    /** Four AdamW steps of a seeded ternary tiny model on a fixed batch; the loss before each step. */
    static float[] losses(Backend backend) {
        LlamaConfig config = LlamaConfig.preset("tiny").ternary();
        int batch = 2, seq = 16;
        int[] inputs = new int[batch * seq], targets = new int[batch * seq];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = (i * 37 + 11) % config.vocabSize();
            targets[i] = (i * 53 + 5) % config.vocabSize();
        }
        float[] out = new float[4];
        try (LlamaModel model = new LlamaModel(backend, config);
             tern.runtime.AdamW opt = new tern.runtime.AdamW(backend, model.parameters(), 0.9f, 0.95f, 1e-8f)) {
            model.initialize(42);
            for (int step = 0; step < out.length; step++) {
                opt.zeroGrad();
                try (Tape tape = new Tape(backend)) {
                    out[step] = model.loss(tape, inputs, targets, batch, seq, 1f);
                    tape.backward();
                }
                opt.update(3e-3f, 0.1f, 1f);
            }
        }
        return out;
    }

    @Test
    void scalarPathWithoutTheModuleComputesTheSameLosses() throws IOException, InterruptedException {
        assertTrue(Vectorization.ENABLED, "this JVM is meant to run with the Vector API module (pom's argLine)");
        float[] here = losses(new CpuBackend());

        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                WithoutVectorModuleTest.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "forked JVM did not finish");
        assertEquals(0, p.exitValue(), output);

        String[] lines = output.strip().split("\\R");
        assertTrue(lines[0].startsWith("scalar (jdk.incubator.vector not present"), "kernel path: " + lines[0]);
        assertEquals(here.length + 1, lines.length, output);
        for (int i = 0; i < here.length; i++) {
            float there = Float.parseFloat(lines[i + 1]);
            assertEquals(here[i], there, 1e-5 * Math.abs(here[i]), "loss before step " + i);
        }
        assertTrue(here[3] < here[0], "the steps train: " + here[0] + " → " + here[3]);
    }
}
