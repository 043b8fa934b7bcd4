package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.Safetensors;
import tern.checkpoint.SafetensorsFile;

/**
 * Crash safety of {@code tern train}, proven on real processes: a run is SIGKILLed at random moments
 * (mid-step, while a checkpoint folder is being written, right after a save, during start-up and resume),
 * resumed each time, and after every kill the checkpoints folder satisfies {@link CheckpointInvariants}.
 * When it finally completes, its weights, optimizer moments and loss curve equal an uninterrupted run's
 * bit for bit. Ctrl-C (SIGINT) saves a checkpoint at the step it stopped at and exits cleanly.
 *
 * <p>CI size: 20 kills (about two minutes with the uninterrupted reference run on a loaded 2-core box, mostly
 * JVM start-ups); {@code -Dtern.kills=N} raises it for a nightly run, {@code -Dtern.kills.seed=S} changes the
 * schedule. The whole class (with Ctrl-C, damaged-checkpoint and full-disk runs) takes about four minutes.
 */
class CrashSafetyTest {
    static final long STEPS = 40;
    private static final int KILLS = Integer.getInteger("tern.kills", 20);

    /** Where a kill is aimed. */
    enum Moment { MID_STEP, WRITING_CHECKPOINT, JUST_SAVED, STARTUP }

    @TempDir static Path shared;
    static Path data, reference;

    @BeforeAll
    static void uninterruptedReference() throws Exception {
        data = ReliabilityData.grammarShards(shared.resolve("data"));
        reference = shared.resolve("reference");
        try (ChildRun run = ChildRun.start(shared, trainArgs(reference))) {
            assertEquals(0, run.await(300), run::output);
        }
    }

    static String[] trainArgs(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--preset", "tiny", "--precision", "ternary",
                "--data", data.toString(), "--out", out.toString(), "--steps", Long.toString(STEPS),
                "--batch", "2", "--seq", "16", "--seed", "7", "--save-every", "2", "--keep", "3",
                "--eval-every", "10", "--eval-batches", "1"));
        a.addAll(List.of(extra));
        a.addAll(DEVICE);
        return a.toArray(String[]::new);
    }

    /**
     * {@code -Dtern.kills.device=cuda} runs every child on the GPU (the harness on the GPU machine: SIGKILL
     * during CUDA steps and during checkpoint writes of a GPU run); the default is the CPU.
     */
    private static final List<String> DEVICE = System.getProperty("tern.kills.device") == null
            ? List.of() : List.of("--device", System.getProperty("tern.kills.device"));

    static String[] resumeArgs(Path out) {
        List<String> a = new ArrayList<>(List.of("train", "--resume", out.toString()));
        a.addAll(DEVICE);
        return a.toArray(String[]::new);
    }

    static ChildRun startOrResume(Path out) throws IOException {
        boolean resumable = new CheckpointWriter(out.resolve("checkpoints")).latest().isPresent();
        return resumable ? ChildRun.start(shared, resumeArgs(out)) : ChildRun.start(shared, trainArgs(out));
    }

    @Test
    void killedAtRandomMomentsResumesToTheUninterruptedRunBitForBit() throws Exception {
        Path out = shared.resolve("killed");
        Path checkpoints = out.resolve("checkpoints");
        Random random = new Random(Long.getLong("tern.kills.seed", 20261123L));
        Map<Moment, Integer> kills = new EnumMap<>(Moment.class);
        int killed = 0, lives = 0, checks = 0;
        while (killed < KILLS) {
            lives++;
            Moment moment = Moment.values()[random.nextInt(Moment.values().length)];
            try (ChildRun run = startOrResume(out)) {
                boolean hit = aim(run, moment, checkpoints, random);
                if (hit && run.alive()) {
                    run.kill();
                    killed++;
                    kills.merge(moment, 1, Integer::sum);
                } else {
                    int status = run.await(120);
                    assertEquals(0, status, run::output);
                    if (finished(out)) {
                        // done before the kill landed: start over from scratch so every kill meets a live run
                        assertFinalStateEqualsReference(out);
                        deleteRecursively(out);
                    }
                }
            }
            checks += CheckpointInvariants.check(checkpoints).size();
        }
        try (ChildRun last = startOrResume(out)) {
            assertEquals(0, last.await(300), last::output);
        }
        CheckpointInvariants.check(checkpoints);
        assertFinalStateEqualsReference(out);
        System.out.printf("crash harness: %d SIGKILLs survived in %d lives (%s), %d checkpoint folders verified after kills%n",
                killed, lives, kills, checks);
        assertTrue(killed >= KILLS);
    }

    @Test
    void ctrlCSavesTheStepItStoppedAtAndResumesExactly() throws Exception {
        Path out = shared.resolve("interrupted");
        int status;
        String printed;
        try (ChildRun run = ChildRun.start(shared, trainArgs(out))) {
            assertTrue(run.awaitLine(l -> l.contains("checkpoint saved in") && l.contains("step-000004"), 120_000), run::output);
            Thread.sleep(150);                                       // somewhere in steps 5..6
            run.interrupt();
            status = run.await(120);
            printed = run.output();
        }
        assertTrue(status == 0 || status == 130, "exit status " + status + "\n" + printed);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("stopped at step (\\d+)").matcher(printed);
        // A JVM started with SIGINT ignored (a test run under nohup or '&' in a script) inherits that and never sees Ctrl-C.
        assertTrue(m.find(), () -> "no stop after SIGINT" + (printed.contains("done: " + STEPS + " steps")
                ? " (the run went on to its end: is SIGINT ignored in the shell that started the tests?)" : "") + "\n" + printed);
        long step = Long.parseLong(m.group(1));
        assertTrue(step >= 4 && step < STEPS, printed);
        Path ckpt = out.resolve(String.format("checkpoints/step-%06d", step));
        CheckpointInvariants.check(out.resolve("checkpoints"));
        assertEquals(String.format("step-%06d", step), Files.readString(out.resolve("checkpoints/latest")).strip());
        assertEquals(step, tern.checkpoint.TrainingState.read(ckpt).step());
        try (ChildRun resumed = ChildRun.start(shared, resumeArgs(out))) {
            assertEquals(0, resumed.await(300), resumed::output);
            assertTrue(resumed.output().contains("resuming from step " + step), resumed::output);
        }
        assertFinalStateEqualsReference(out);
    }

    @Test
    void aDamagedLatestCheckpointFallsBackToThePreviousWithAWarning() throws Exception {
        Path out = shared.resolve("damaged");
        try (ChildRun run = ChildRun.start(shared, trainArgs(out, "--stop-after", "6"))) {
            assertEquals(0, run.await(300), run::output);
        }
        Path latest = out.resolve("checkpoints/step-000006");
        assertEquals("step-000006", Files.readString(out.resolve("checkpoints/latest")).strip());
        NanPolicyTest.flipByte(latest.resolve("model.safetensors"), Files.size(latest.resolve("model.safetensors")) / 2);
        try (ChildRun resumed = ChildRun.start(shared, resumeArgs(out))) {
            int status = resumed.await(300);
            String printed = resumed.output();
            assertEquals(0, status, printed);
            assertTrue(printed.contains("warning: checkpoint " + latest + " is damaged"), printed);
            assertTrue(printed.contains("checksum mismatch"), printed);
            assertTrue(printed.contains("resuming from step 4"), printed);
        }
        assertFinalStateEqualsReference(out);
    }

    @Test
    void aFullDiskWhileSavingNamesThePathKeepsThePreviousCheckpointAndResumesExactly() throws Exception {
        Path out = shared.resolve("disk-full");
        try (ChildRun run = ChildRun.start(shared, trainArgs(out, "--stop-after", "4"))) {
            assertEquals(0, run.await(300), run::output);
        }
        // No file over 1500 KiB: model.safetensors (~1 MiB) fits, optimizer.safetensors (~2 MiB) fails with EFBIG.
        try (ChildRun full = ChildRun.start(shared, List.of(), "-f 1500", resumeArgs(out))) {
            assertEquals(1, full.await(300), full::output);
            String printed = full.output();
            assertTrue(printed.contains("tern train: " + out.resolve("checkpoints/step-000006.tmp/optimizer.safetensors")
                    + ": checkpoint 'step-000006' could not be written (File too large)"), printed);
        }
        List<Path> left = CheckpointInvariants.check(out.resolve("checkpoints"));
        assertEquals(List.of(out.resolve("checkpoints/step-000002"), out.resolve("checkpoints/step-000004")), left);
        assertEquals("step-000004", Files.readString(out.resolve("checkpoints/latest")).strip());
        try (Stream<Path> s = Files.list(out.resolve("checkpoints"))) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".tmp")), "the partial folder is removed");
        }
        try (ChildRun resumed = ChildRun.start(shared, resumeArgs(out))) {
            assertEquals(0, resumed.await(300), resumed::output);
        }
        assertFinalStateEqualsReference(out);
    }

    /**
     * Waits for the chosen moment; true when the process is to be killed now, false when it ended (or
     * the moment never came) first.
     */
    private static boolean aim(ChildRun run, Moment moment, Path checkpoints, Random random) throws Exception {
        return switch (moment) {
            case STARTUP -> {
                Thread.sleep(random.nextInt(1500));
                yield true;
            }
            case MID_STEP -> {
                if (!run.awaitLine(l -> l.startsWith("schedule "), 60_000)) yield false;
                Thread.sleep(random.nextInt(400));
                yield true;
            }
            case JUST_SAVED -> run.awaitLine(l -> l.contains("checkpoint saved in"), 60_000);
            case WRITING_CHECKPOINT -> {
                long end = System.nanoTime() + 60_000_000_000L;
                while (System.nanoTime() < end && run.alive()) {
                    if (tmpFolderPresent(checkpoints)) {
                        if (random.nextBoolean()) Thread.sleep(random.nextInt(5));
                        yield true;
                    }
                    Thread.onSpinWait();
                }
                yield false;
            }
        };
    }

    private static boolean tmpFolderPresent(Path checkpoints) {
        try (Stream<Path> s = Files.list(checkpoints)) {
            return s.anyMatch(p -> p.getFileName().toString().endsWith(".tmp"));
        } catch (IOException absent) {
            return false;
        }
    }

    private static boolean finished(Path out) {
        return Files.isDirectory(out.resolve("checkpoints").resolve(String.format("step-%06d", STEPS)));
    }

    /** Same weights and moments bytes, the same loss, lr and gradient-norm bits at every step, the same validations. */
    static void assertFinalStateEqualsReference(Path out) throws IOException {
        String last = String.format("checkpoints/step-%06d", STEPS);
        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            try (SafetensorsFile a = Safetensors.open(reference.resolve(last).resolve(file));
                 SafetensorsFile b = Safetensors.open(out.resolve(last).resolve(file))) {
                assertEquals(a.names(), b.names());
                for (String n : a.names())
                    assertArrayEquals(a.bytes(n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                            b.bytes(n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), file + ": " + n);
            }
        }
        assertEquals(curve(reference), curve(out), "loss curve");
    }

    /**
     * The log without wall-clock seconds and without the "session" lines (one per invocation: an interrupted
     * run has more of them): every other field must repeat exactly.
     */
    static List<String> curve(Path run) throws IOException {
        return Files.readAllLines(run.resolve("train_log.jsonl")).stream()
                .filter(l -> !l.isBlank() && !l.contains("\"kind\":\"session\""))
                .map(l -> l.replaceAll(",\"seconds\":[^,}]*", ""))
                .toList();
    }

    static void deleteRecursively(Path p) throws IOException {
        tern.checkpoint.AtomicFiles.deleteRecursively(p);
    }
}
