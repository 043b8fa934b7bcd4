package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.eval.Law;

/**
 * {@code tern fit --law precision --fix FILE}: with A, α, B, β, E held from an earlier fit, the k-bit runs of one
 * size determine γ_w alone. Runs are synthetic: their validation curves are the precision law itself, so the
 * fit must give back the γ_w they were made with, and the held constants unchanged.
 */
class FitFixTest {
    // constants of the shape Kumar et al. report; gamma_w the one to recover
    static final double A = 420, ALPHA = 0.34, B = 410, BETA = 0.28, E = 1.7, GAMMA_W = 2.6;
    static final double N = 5.3e6;

    @Test
    void aFitWithTheChinchillaConstantsHeldRecoversGammaW(@TempDir Path dir) throws Exception {
        Path runs = Files.createDirectories(dir.resolve("runs"));
        for (int bits : new int[]{2, 3, 4, 5, 6, 8, 16}) writeRun(runs.resolve("w" + bits), bits);
        Path fix = dir.resolve("chinchilla.json");
        Files.writeString(fix, """
                {"law": "chinchilla", "constants_with_stderr": {"A": [%s, 1.0], "alpha": [%s, 0.01], "B": [%s, 2.0], "beta": [%s, 0.01], "E": [%s, 0.1]}}
                """.formatted(A, ALPHA, B, BETA, E));
        Path out = dir.resolve("precision.png");
        assertEquals(0, FitCommand.run(new String[]{"--runs", runs.toString(), "--law", "precision", "--fix", fix.toString(), "--out", out.toString()}));
        Map<?, ?> c = (Map<?, ?>) Json.parseObject(Files.readString(dir.resolve("precision.json"))).get("constants_with_stderr");
        assertEquals(GAMMA_W, value(c, "gamma_w"), 1e-4 * GAMMA_W, "γ_w from exact points");
        assertEquals(A, value(c, "A"), 1e-12 * A, "A is held (up to the exp/log round trip of a logged constant)");
        assertEquals(BETA, value(c, "beta"), 1e-12 * BETA, "β is held");
        assertEquals(0.0, ((Number) ((List<?>) c.get("A")).get(1)).doubleValue(), 0.0, "a held constant has no error");
    }

    @Test
    void aFixFileThatIsMissingOrHoldsNoConstantIsRefusedByName(@TempDir Path dir) throws Exception {
        Path none = dir.resolve("none.json");
        UsageException missing = assertThrows(UsageException.class, () -> FitCommand.fixedConstants(Law.PRECISION, none));
        assertTrue(missing.getMessage().contains("none.json") && missing.getMessage().contains("no such file"), missing.getMessage());
        Path plain = dir.resolve("plain.json");
        Files.writeString(plain, "{\"law\": \"chinchilla\"}");
        UsageException empty = assertThrows(UsageException.class, () -> FitCommand.fixedConstants(Law.PRECISION, plain));
        assertTrue(empty.getMessage().contains("constants_with_stderr"), empty.getMessage());
        Path undetermined = dir.resolve("undetermined.json");
        Files.writeString(undetermined, "{\"constants_with_stderr\": {\"A\": [null, null]}}");
        UsageException nulls = assertThrows(UsageException.class, () -> FitCommand.fixedConstants(Law.PRECISION, undetermined));
        assertTrue(nulls.getMessage().contains("'A'"), nulls.getMessage());
        Path all = dir.resolve("all.json");
        Files.writeString(all, "{\"constants_with_stderr\": {\"A\": [1, 0], \"alpha\": [1, 0], \"B\": [1, 0], \"beta\": [1, 0], \"E\": [1, 0], \"gamma_w\": [1, 0]}}");
        UsageException nothing = assertThrows(UsageException.class, () -> FitCommand.fixedConstants(Law.PRECISION, all));
        assertTrue(nothing.getMessage().contains("nothing to fit"), nothing.getMessage());
    }

    private static double value(Map<?, ?> constants, String name) {
        return ((Number) ((List<?>) constants.get(name)).get(0)).doubleValue();
    }

    private static void writeRun(Path run, int bits) throws Exception {
        Files.createDirectories(run);
        double[] c = {A, ALPHA, B, BETA, E, GAMMA_W};
        List<String> curve = new ArrayList<>();
        for (int step = 100; step <= 1000; step += 100) {
            double tokens = step * 65536.0;
            curve.add(String.format(Locale.ROOT, "[%d, %.1f, %.17g]", step, tokens, Law.PRECISION.predict(c, new double[]{N, tokens, bits})));
        }
        Files.writeString(run.resolve("result.json"), String.format(Locale.ROOT, """
                {"name": "w%d", "non_embedding_params": %.1f, "weight_bits": %d.0, "act_bits": 16, "kv_bits": 16,
                 "precision": {"precision": "float"}, "steps": 1000, "val_curve": [%s]}
                """, bits, N, bits, String.join(", ", curve)));
    }
}
