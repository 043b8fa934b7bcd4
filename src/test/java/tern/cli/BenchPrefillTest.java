package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.serve.ServeFixture;

/** {@code tern bench prefill} on a tiny packed model: one JSON object with a positive rate per length; bad flags are usage errors. */
class BenchPrefillTest {
    @TempDir static Path dir;

    @Test
    void printsPromptTokensPerSecondForEveryLength() throws Exception {
        Path model = ServeFixture.packedModel(dir);
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = BenchPrefill.run(new String[]{"--model", model.toString(), "--tokens", "3,17", "--runs", "2", "--warmup-s", "0", "--json"});
        } finally {
            System.setOut(saved);
        }
        assertEquals(0, code);
        Map<String, Object> out = Json.parseObject(bytes.toString(StandardCharsets.UTF_8).strip());
        for (String k : new String[]{"pp3_tokens_per_s", "pp17_tokens_per_s", "pp3_best_tokens_per_s", "pp17_best_tokens_per_s"})
            assertTrue(out.get(k) instanceof Number n && n.doubleValue() > 0, k + " in " + out);
        assertEquals("int8", out.get("activations"));
    }

    @Test
    void badFlagsAreUsageErrors() throws Exception {
        Path model = ServeFixture.packedModel(dir);
        assertThrows(UsageException.class, () -> BenchPrefill.run(new String[]{"--model", model.toString(), "--tokens", "1,x"}));
        assertThrows(UsageException.class, () -> BenchPrefill.run(new String[]{"--model", model.toString(), "--tokens", "0"}));
        assertThrows(UsageException.class, () -> BenchPrefill.run(new String[]{"--model", model.toString(), "--runs", "0"}));
        assertThrows(UsageException.class, () -> BenchPrefill.run(new String[]{"--model", dir.resolve("missing.tern").toString()}));
        assertThrows(UsageException.class, () -> BenchPrefill.run(new String[]{"--model", model.toString(), "--activations", "int4"}));
    }
}
