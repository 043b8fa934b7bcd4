package tern.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Crash safety of checkpoint directories: a failure at any byte of any file leaves the previous checkpoint
 * complete, loadable and named by {@code latest}; leftovers of a killed process are ignored and cleaned up;
 * keep-N deletes only the oldest complete checkpoints.
 */
class CheckpointWriterTest {
    private final Path root;

    CheckpointWriterTest() throws IOException { root = Files.createTempDirectory("tern-ckpt"); }

    @AfterProperty
    @AfterEach
    void cleanUp() throws IOException { AtomicFiles.deleteRecursively(root); }

    @Test
    void writesFilesManifestAndLatest() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        assertEquals(Optional.empty(), w.latest());
        Path first = w.write("step-1", files(1));
        Path second = w.write("step-2", files(2));
        assertEquals(Optional.of(second), w.latest());
        assertEquals("step-2\n", Files.readString(root.resolve(CheckpointWriter.LATEST)));
        assertEquals(List.of(first, second), w.complete());
        CheckpointManifest m = CheckpointWriter.verify(second);
        assertEquals(2, m.sequence());
        assertEquals(List.of("model.safetensors", "notes.txt"), List.copyOf(m.files().keySet()));
        assertEquals(Files.size(second.resolve("notes.txt")), m.files().get("notes.txt").bytes());
        assertLoadable(second, 2);
        assertNoLeftovers();
    }

    @Test
    void failureMidFileKeepsThePreviousCheckpoint() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        Path good = w.write("step-1", files(1));
        Map<String, AtomicFiles.Content> broken = files(2);
        broken.put("optimizer.safetensors", out -> {
            out.write(ByteBuffer.wrap(new byte[100]));
            throw new IOException("No space left on device");
        });
        CheckpointException e = assertThrows(CheckpointException.class, () -> w.write("step-2", broken));
        assertEquals(root.resolve("step-2.tmp").resolve("optimizer.safetensors"), e.file(), e.getMessage());
        assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        assertPreviousIntact(w, good, 1);
    }

    @Test
    void runtimeFailureInAWriterKeepsThePreviousCheckpoint() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        Path good = w.write("step-1", files(1));
        Map<String, AtomicFiles.Content> broken = files(2);
        broken.put("state.json", out -> { throw new IllegalStateException("NaN in the moments"); });
        CheckpointException e = assertThrows(CheckpointException.class, () -> w.write("step-2", broken));
        assertTrue(e.getMessage().contains("state.json") && e.getMessage().contains("NaN in the moments"), e.getMessage());
        assertPreviousIntact(w, good, 1);
    }

    /** A disk that fills after {@code budget} bytes, in whichever file that falls, re-writing the same name too. */
    @Property(tries = 25)
    void aDiskThatFillsAnywhereLeavesThePreviousCheckpoint(@ForAll @IntRange(min = 0, max = 3000) int budget,
                                                           @ForAll boolean sameName) throws IOException {
        Path good = new CheckpointWriter(root).write("ckpt", files(1));
        long[] left = {budget};
        CheckpointWriter failing = new CheckpointWriter(root, ch -> new DiskFull(ch, left));
        String name = sameName ? "ckpt" : "ckpt-2";
        try {
            Path written = failing.write(name, files(2));             // the budget covered every byte
            assertLoadable(written, 2);
            assertEquals(Optional.of(written), new CheckpointWriter(root).latest());
        } catch (CheckpointException e) {
            assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
            assertTrue(e.file().startsWith(root), e.getMessage());
            assertPreviousIntact(new CheckpointWriter(root), good, 1);
        }
        AtomicFiles.deleteRecursively(root);
        Files.createDirectories(root);
    }

    @Test
    void leftoversOfAKilledWriterAreIgnoredThenCleanedUp() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        Path good = w.write("step-1", files(1));
        // What a process killed mid-write leaves: a partial tmp directory and a half-written marker tmp.
        Path tmp = Files.createDirectory(root.resolve("step-2.tmp"));
        Files.write(tmp.resolve("model.safetensors"), new byte[]{1, 2, 3});
        Files.writeString(root.resolve("latest.tmp"), "step-");
        assertEquals(Optional.of(good), w.latest());
        assertEquals(List.of(good), w.complete());
        assertLoadable(good, 1);
        Path next = w.write("step-2", files(2));
        assertEquals(Optional.of(next), w.latest());
        assertNoLeftovers();
    }

    @Test
    void aCrashBetweenTheTwoRenamesOfAReplaceIsRecovered() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        Path good = w.write("final", files(1));
        // Crash after "final" was renamed aside to "final.old", before "final.tmp" became "final".
        Files.move(good, root.resolve("final.old"));
        Files.createDirectory(root.resolve("final.tmp"));
        assertEquals(Optional.of(root.resolve("final.old")), w.latest(), "the old copy is still found");
        assertLoadable(root.resolve("final.old"), 1);
        w.recover();
        assertEquals(Optional.of(good), w.latest());
        assertLoadable(good, 1);
        assertNoLeftovers();
    }

    @Test
    void rewritingANameReplacesItWholly() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        w.write("final", files(1));
        Path again = w.write("final", files(3));
        assertLoadable(again, 3);
        assertEquals(List.of(again), w.complete());
        assertNoLeftovers();
    }

    @Test
    void keepNewestDeletesTheOldestBySequenceNotByName() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        List<String> names = List.of("c", "a", "e", "b", "d");     // written in this order
        for (int i = 0; i < names.size(); i++) w.write(names.get(i), files(i));
        List<Path> deleted = w.keepNewest(2);
        assertEquals(List.of(root.resolve("c"), root.resolve("a"), root.resolve("e")), deleted);
        assertEquals(List.of(root.resolve("b"), root.resolve("d")), w.complete());
        assertEquals(Optional.of(root.resolve("d")), w.latest());
        assertThrows(IllegalArgumentException.class, () -> w.keepNewest(0));
    }

    @Test
    void keepNewestNeverDeletesWhatLatestNames() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        w.write("old", files(1));
        w.write("new", files(2));
        AtomicFiles.writeString(root.resolve(CheckpointWriter.LATEST), "old\n");   // e.g. a user rolled back
        assertEquals(List.of(), w.keepNewest(1));
        assertTrue(Files.isDirectory(root.resolve("old")));
    }

    @Test
    void verifyCatchesDamageAfterTheWrite() throws IOException {
        CheckpointWriter w = new CheckpointWriter(root);
        Path c = w.write("step-1", files(1));
        Path notes = c.resolve("notes.txt");
        byte[] b = Files.readAllBytes(notes);
        b[0] ^= 1;
        Files.write(notes, b);
        CheckpointException e = assertThrows(CheckpointException.class, () -> CheckpointWriter.verify(c));
        assertEquals(notes, e.file());
        assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
        Files.write(notes, new byte[3]);
        assertTrue(assertThrows(CheckpointException.class, () -> CheckpointWriter.verify(c)).getMessage().contains("is 3 bytes, the manifest says"));
        Files.delete(notes);
        assertTrue(assertThrows(CheckpointException.class, () -> CheckpointWriter.verify(c)).getMessage().contains("listed in the manifest but missing"));
    }

    @Test
    void badNamesAreRefused() {
        CheckpointWriter w = new CheckpointWriter(root);
        for (String bad : List.of("", "a/b", "..", "latest", "x.tmp", "x.old"))
            assertThrows(IllegalArgumentException.class, () -> w.write(bad, files(1)), bad);
        Map<String, AtomicFiles.Content> clash = files(1);
        clash.put(CheckpointManifest.FILE, AtomicFiles.utf8("{}"));
        assertThrows(IllegalArgumentException.class, () -> w.write("ok", clash));
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** A checkpoint's files, their content a function of {@code version}. */
    private static Map<String, AtomicFiles.Content> files(int version) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", Tensor.of(new float[]{version, version + 0.5f, -version}, 3));
        tensors.put("b", Tensor.of(new float[200], 200));
        Map<String, AtomicFiles.Content> files = new LinkedHashMap<>();
        files.put("model.safetensors", Safetensors.content(tensors, Map.of("version", "" + version), DType.F32));
        files.put("notes.txt", AtomicFiles.utf8("version " + version + "\n".repeat(version + 1)));
        return files;
    }

    private static void assertLoadable(Path checkpoint, int version) throws IOException {
        CheckpointWriter.verify(checkpoint);
        try (SafetensorsFile f = Safetensors.open(checkpoint.resolve("model.safetensors")); Tensor w = f.tensor("w")) {
            assertArrayEquals(new float[]{version, version + 0.5f, -version}, w.toFloatArray());
            assertEquals("" + version, f.metadata().get("version"));
        }
        assertEquals("version " + version + "\n".repeat(version + 1), Files.readString(checkpoint.resolve("notes.txt")));
    }

    private void assertPreviousIntact(CheckpointWriter w, Path good, int version) throws IOException {
        assertEquals(Optional.of(good), w.latest(), "latest still names the previous checkpoint");
        assertEquals(List.of(good), w.complete());
        assertLoadable(good, version);
        assertNoLeftovers();
    }

    private void assertNoLeftovers() throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            List<String> names = s.map(p -> p.getFileName().toString()).toList();
            assertFalse(names.stream().anyMatch(n -> n.endsWith(".tmp") || n.endsWith(".old")), "leftovers in " + names);
        }
    }

    /** A channel that accepts {@code left[0]} more bytes across all files, then fails as a full disk does. */
    private record DiskFull(WritableByteChannel out, long[] left) implements WritableByteChannel {
        @Override
        public int write(ByteBuffer src) throws IOException {
            if (left[0] <= 0) throw new IOException("No space left on device");
            int n = (int) Math.min(src.remaining(), left[0]);
            ByteBuffer part = src.slice(src.position(), n);
            int written = out.write(part);
            src.position(src.position() + written);
            left[0] -= written;
            return written;
        }

        @Override public boolean isOpen() { return out.isOpen(); }

        @Override public void close() throws IOException { out.close(); }
    }
}
