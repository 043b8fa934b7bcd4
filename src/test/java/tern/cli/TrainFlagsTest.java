package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Bad input to {@code tern train}, {@code tern generate} and {@code tern demo} fails before any work with
 * one line that names the flag or setting and what is wrong ({@link UsageException}: Main prints it and
 * exits with status 2).
 */
class TrainFlagsTest {

    private static String usageError(Main.Runner command, String... args) {
        UsageException e = assertThrows(UsageException.class, () -> command.run(args));
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @ParameterizedTest(name = "{0} → {1}")
    @CsvSource(delimiter = '|', value = {
            "--bogus 3                          | unknown flag --bogus",
            "--preset huge                      | unknown preset 'huge' (known: tiny, golden, 10M, 99M",
            "--precision quaternary             | train setting 'precision': unknown precision 'quaternary'",
            "--weight-bits 1                    | int bits must be in 2..16, got 1",
            "--switch-to ternary                | needs switch_at",
            "--phase-in 5                       | switch_at, phase_in and reset_optimizer need switch_to",
            "--switch-to ternary --switch-at 1.5 | 'switch_at' as a fraction must be in [0, 1], got 1.5",
            "--steps 10 --switch-to ternary --switch-at 11 | 'switch_at': step 11 is outside the run's 0..10 updates",
            "--hidden 65                        | heads (4) must divide hidden (65)",
            "--hidden 36                        | head dimension hidden/heads = 9",
            "--heads 0                          | 'heads' must be a positive whole number, got 0",
            "--layers two                       | 'layers' must be a whole number, got 'two'",
            "--device tpu                       | --device must be cpu or cuda, got 'tpu'",
            "--compute fp8                      | --compute must be bf16, fp16 or f32, got 'fp8'",
            "--compute fp16                     | --compute fp16 needs --device cuda",
            "--compute bf16                     | --compute bf16 needs --device cuda",
            "--batch zero                       | 'batch' must be a whole number, got 'zero'",
            "--batch 0                          | 'batch' must be at least 1, got 0",
            "--lr -1                            | 'lr' must be positive, got -1.0",
            "--lr 1e-3 --min-lr 1e-2            | 'min_lr' must be in [0, lr = 0.001], got 0.01",
            "--schedule wiggly                  | 'schedule' must be one of [linear, cosine, spectra, constant], got 'wiggly'",
            "--steps 10 --warmup 20             | 'warmup' must be in [0, steps = 10], got 20",
            "--steps                            | --steps needs a value",
            "--decay-off-at 1.5                 | 'decay_off_at' must be a fraction in [0, 1], got 1.5",
            "stray                              | unexpected argument 'stray'",
            "--stop-after 0                     | --stop-after must be at least 1, got 0",
    })
    void badTrainFlags(String args, String expected) {
        String message = usageError(TrainCommand::run, args.trim().split("\\s+"));
        assertTrue(message.contains(expected), "message: " + message + "\nexpected to contain: " + expected);
    }

    @Test
    void configFileWithAnUnknownKeyOrBadJson(@TempDir Path tmp) throws IOException {
        Path unknown = tmp.resolve("unknown.json");
        Files.writeString(unknown, "{\"preset\": \"tiny\", \"learning_rate\": 0.1}");
        assertTrue(usageError(TrainCommand::run, "--config", unknown.toString()).contains("unknown train setting 'learning_rate'"));
        Path broken = tmp.resolve("broken.json");
        Files.writeString(broken, "{\"preset\": ");
        assertTrue(usageError(TrainCommand::run, "--config", broken.toString()).startsWith("--config " + broken + ": malformed JSON"));
        assertTrue(usageError(TrainCommand::run, "--config", tmp.resolve("none.json").toString()).endsWith("no such file"));
    }

    @Test
    void flagsOverrideTheConfigFileWhichOverridesThePreset(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("c.json");
        Files.writeString(file, "{\"preset\": \"nope\", \"batch\": 3}");
        // the file's preset is wrong, the flag's is used instead; then the missing run folder is the error
        Exception e = assertThrows(Exception.class, () -> TrainCommand.run(new String[]{"--config", file.toString(), "--preset", "tiny"}));
        assertTrue(e.getMessage().contains("'out'"), e.getMessage());
    }

    @Test
    void aFreshRunRefusesAFolderThatHoldsCheckpoints(@TempDir Path tmp) throws IOException {
        Path ckpt = tmp.resolve("run/checkpoints/step-000003");
        Files.createDirectories(ckpt);
        Files.writeString(ckpt.resolve("manifest.json"), "{\"format\": \"tern-checkpoint/1\", \"sequence\": 1, \"files\": {}}");
        Files.writeString(tmp.resolve("run/checkpoints/latest"), "step-000003\n");
        String m = usageError(TrainCommand::run, "--data", tmp.toString(), "--out", tmp.resolve("run").toString());
        assertTrue(m.endsWith("already holds checkpoints of a run: continue it with --resume " + tmp.resolve("run") + ", or choose another --out"), m);
    }

    @Test
    void resumingCannotChangeTheTrajectory() {
        String m = usageError(TrainCommand::run, "--resume", "/nonexistent", "--lr", "0.1");
        assertTrue(m.startsWith("cannot change 'lr' when resuming"), m);
    }

    @Test
    void badGenerateAndDemoFlags() {
        assertEquals("--ckpt is required", usageError(GenerateCommand::run, "--prompt", "hi"));
        assertTrue(usageError(GenerateCommand::run, "--ckpt", "x", "--prompt", "hi", "--top-p", "2").contains("topP must be in (0, 1]"));
        assertTrue(usageError(GenerateCommand::run, "--ckpt", "/nonexistent", "--prompt", "hi").endsWith("no such folder"));
        assertTrue(usageError(DemoCommand::run, "--precision", "quaternary").contains("must be one of [float, ternary, binary]"));
        assertTrue(usageError(DemoCommand::run, "--steps", "-3").contains("--steps must be at least 1"));
    }
}
