package tern.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.testing.TinyCheckpoints;

/**
 * {@code tern export} never writes over a checkpoint or a run (issue #14, item 2): an --out that is, holds or
 * lies inside one is refused, --force or not, and nothing of the checkpoint changes; a non-empty folder needs
 * --force.
 */
class ExportRefusalTest {
    @TempDir Path dir;

    @Test
    void outIntoTheCheckpointItselfIsRefusedAndTheCheckpointIsUntouched() throws Exception {
        Path run = dir.resolve("run");
        Path ckpt = TinyCheckpoints.checkpoint(run);
        Map<Path, byte[]> before = snapshot(run);
        for (boolean force : new boolean[]{false, true}) {
            Exception e = export(ckpt, ckpt, force);
            assertTrue(e.getMessage().contains(ckpt.toString()) && e.getMessage().contains("checkpoint"), e.getMessage());
        }
        assertSame(before, snapshot(run));
    }

    @Test
    void outThatHoldsOrLiesInsideARunIsRefused() throws Exception {
        Path run = dir.resolve("run");
        Path ckpt = TinyCheckpoints.checkpoint(run);
        Map<Path, byte[]> before = snapshot(run);
        for (Path out : new Path[]{run, run.resolve("checkpoints"), ckpt.resolve("export"), run.resolve("exports/hf"), dir}) {
            Exception e = export(ckpt, out, true);
            assertTrue(e.getMessage().contains("--out " + out), out + ": " + e.getMessage());
        }
        assertFalse(Files.exists(ckpt.resolve("export")), "nothing is created inside a checkpoint");
        assertFalse(Files.exists(run.resolve("exports")), "nothing is created inside a run");
        assertSame(before, snapshot(run));
    }

    @Test
    void nonEmptyFolderNeedsForce() throws Exception {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"));
        Path out = Files.createDirectories(dir.resolve("elsewhere"));
        Files.writeString(out.resolve("notes.txt"), "mine");
        Exception e = export(ckpt, out, false);
        assertTrue(e.getMessage().contains("--out " + out) && e.getMessage().contains("--force"), e.getMessage());
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        assertEquals(0, ExportCommand.run(args(ckpt, out, true)));
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
    }

    @Test
    void newOrEmptyFolderIsWritten() throws Exception {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"));
        assertEquals(0, ExportCommand.run(args(ckpt, dir.resolve("fresh/hf"), false)));
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertEquals(0, ExportCommand.run(args(ckpt, empty, false)));
        assertTrue(Files.isRegularFile(empty.resolve("config.json")));
    }

    private static Exception export(Path ckpt, Path out, boolean force) {
        return assertThrows(Exception.class, () -> ExportCommand.run(args(ckpt, out, force)), "export to " + out + " should be refused");
    }

    private static String[] args(Path ckpt, Path out, boolean force) {
        return force ? new String[]{"--ckpt", ckpt.toString(), "--out", out.toString(), "--force"}
                : new String[]{"--ckpt", ckpt.toString(), "--out", out.toString()};
    }

    private static Map<Path, byte[]> snapshot(Path root) throws IOException {
        Map<Path, byte[]> out = new LinkedHashMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted().toList()) out.put(p, Files.isRegularFile(p) ? Files.readAllBytes(p) : new byte[0]);
        }
        return out;
    }

    private static void assertSame(Map<Path, byte[]> before, Map<Path, byte[]> after) {
        assertEquals(before.keySet(), after.keySet());
        for (Path p : before.keySet()) assertArrayEquals(before.get(p), after.get(p), p.toString());
    }
}
