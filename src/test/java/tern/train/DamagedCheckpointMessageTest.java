package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.CheckpointWriter;
import tern.testing.TinyCheckpoints;

/**
 * What resuming says when checkpoints are damaged (issue #14, item 7): a fallback is announced only when
 * there is an earlier intact checkpoint to fall back to, and "no checkpoint" always comes with the reason.
 */
class DamagedCheckpointMessageTest {
    @TempDir Path dir;

    @Test
    void theOnlyCheckpointDamagedClaimsNoPreviousOne() throws IOException {
        Path run = dir.resolve("run");
        Path ckpt = TinyCheckpoints.checkpoint(run);
        flipLastByte(ckpt.resolve("model.safetensors"));
        List<String> warnings = new ArrayList<>();
        Optional<Path> found = Rollback.newestIntact(new CheckpointWriter(run.resolve("checkpoints")), warnings::add);
        assertTrue(found.isEmpty());
        assertEquals(1, warnings.size(), warnings.toString());
        assertFalse(warnings.getFirst().contains("previous"), warnings.getFirst());
        IOException e = assertThrows(IOException.class, () -> TrainCheckpoint.find(run));
        assertTrue(e.getMessage().contains("step-000002") && e.getMessage().contains("model.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("damaged"), e.getMessage());
    }

    @Test
    void aDamagedLatestNamesTheCheckpointItFallsBackTo() throws IOException {
        Path run = dir.resolve("run");
        CheckpointWriter writer = new CheckpointWriter(run.resolve("checkpoints"));
        Path older = writer.write("step-000001", TinyCheckpoints.files(TinyCheckpoints.SHAPE, w -> {}, c -> c));
        Path newer = writer.write("step-000002", TinyCheckpoints.files(TinyCheckpoints.SHAPE, w -> {}, c -> c));
        flipLastByte(newer.resolve("model.safetensors"));
        List<String> warnings = new ArrayList<>();
        assertEquals(Optional.of(older), Rollback.newestIntact(writer, warnings::add));
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().contains("falling back to " + older.getFileName()), warnings.getFirst());
    }

    @Test
    void aDeletedManifestIsGivenAsTheReason() throws IOException {
        Path run = dir.resolve("run");
        Path ckpt = TinyCheckpoints.checkpoint(run);
        Files.delete(ckpt.resolve("manifest.json"));
        IOException e = assertThrows(IOException.class, () -> TrainCheckpoint.find(run));
        assertTrue(e.getMessage().contains(ckpt.resolve("manifest.json").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }

    private static void flipLastByte(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[b.length - 1] ^= 1;
        Files.write(file, b);
    }
}
