package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code tern train --on-nan stop|skip|rollback} end to end: a real process with a NaN injected into a
 * gradient at step 5 ({@code -Dtern.inject.nan=5}). Stop exits 1 naming the step and the tensor, with the
 * step-4 checkpoint the latest; skip and rollback report what they did and finish the run.
 */
class NanFlagTest {
    private static final String TARGET = "model.layers.2.self_attn.o_proj.weight";

    @TempDir static Path shared;
    private static Path data;

    @BeforeAll
    static void makeData() throws Exception {
        data = ReliabilityData.grammarShards(shared.resolve("data"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"stop", "skip", "rollback"})
    void theChosenPolicyHandlesANanAtStepFive(String policy) throws Exception {
        Path out = shared.resolve(policy);
        String[] args = {"train", "--preset", "tiny", "--precision", "ternary", "--data", data.toString(), "--out", out.toString(),
                "--steps", "8", "--batch", "2", "--seq", "16", "--save-every", "2", "--eval-every", "0", "--on-nan", policy};
        try (ChildRun run = ChildRun.start(shared, List.of("-Dtern.inject.nan=5:" + TARGET), null, args)) {
            int status = run.await(300);
            String printed = run.output();
            String report = "training diverged at step 5: the gradient norm is NaN (first bad gradient: " + TARGET + ")";
            assertTrue(printed.contains(report), printed);
            switch (policy) {
                case "stop" -> {
                    assertEquals(1, status, printed);
                    assertTrue(printed.contains("the last good checkpoint is in " + out.resolve("checkpoints")), printed);
                    assertEquals("step-000004", Files.readString(out.resolve("checkpoints/latest")).strip());
                }
                case "skip" -> {
                    assertEquals(0, status, printed);
                    assertTrue(printed.contains(report + "; skipping that batch (no update applied)"), printed);
                    assertTrue(printed.contains("done: 8 steps"), printed);
                }
                default -> {
                    assertEquals(0, status, printed);
                    assertTrue(printed.contains(report + "; rolled back to step-000004 (step 4), replayed to step 4 and dropped the offending batch"), printed);
                    assertTrue(printed.contains("done: 8 steps"), printed);
                }
            }
            CheckpointInvariants.check(out.resolve("checkpoints"));
        }
    }
}
