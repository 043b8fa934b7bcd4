package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A preset too large for the machine ends {@code tern train} with a clear message giving the estimate and
 * what is available, both when the plan refuses it before allocating ({@code -Dtern.memory.available}
 * makes the machine small on any host) and when the off-heap allocation itself fails (an address-space
 * limit set with {@code ulimit -v}, the plan told memory is plentiful).
 */
class MemoryFaultTest {
    @TempDir static Path shared;
    private static Path data;

    @BeforeAll
    static void makeData() throws Exception {
        data = ReliabilityData.grammarShards(shared.resolve("data"));
    }

    private static String[] train(Path out) {
        return new String[] {"train", "--preset", "1.1B", "--precision", "ternary", "--data", data.toString(),
                "--out", out.toString(), "--steps", "2", "--batch", "1", "--seq", "16"};
    }

    @Test
    void thePlanRefusesAPresetLargerThanMemoryBeforeAllocating() throws Exception {
        Path out = shared.resolve("planned");
        try (ChildRun run = ChildRun.start(shared, List.of("-Dtern.memory.available=1073741824"), null, train(out))) {
            assertEquals(1, run.await(120), run::output);
            String printed = run.output();
            assertTrue(printed.contains("tern train: not enough memory for training the 1.1B preset (ternary, batch 1×16): it needs about 15.3 GiB"), printed);
            assertTrue(printed.contains("970,118,912 parameters × 16 bytes"), printed);
            assertTrue(printed.contains("1.0 GiB available"), printed);
            assertFalse(printed.contains("Exception"), printed);
        }
        assertFalse(Files.exists(out.resolve("checkpoints")));
    }

    @Test
    void anOffHeapAllocationFailureGivesTheSameClearError() throws Exception {
        List<String> jvm = List.of("-Dtern.memory.available=1000000000000", "-XX:ReservedCodeCacheSize=64m", "-XX:CompressedClassSpaceSize=64m");
        try (ChildRun run = ChildRun.start(shared, jvm, "-v 3000000", train(shared.resolve("allocated")))) {
            assertEquals(1, run.await(300), run::output);
            String printed = run.output();
            assertTrue(printed.contains("tern train: not enough memory for training the 1.1B preset"), printed);
            assertTrue(printed.contains("(allocation failed: "), printed);
            assertFalse(printed.contains("OutOfMemoryError"), printed);
        }
    }
}
