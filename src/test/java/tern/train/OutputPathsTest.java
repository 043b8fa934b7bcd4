package tern.train;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.testing.TinyCheckpoints;

/** {@link OutputPaths} for one-file outputs (a GGUF or packed export), beside the folder cases of ExportRefusalTest. */
class OutputPathsTest {
    @TempDir Path dir;

    @Test
    void aFileInsideACheckpointOrRunIsRefusedEvenWithForce() throws IOException {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"));
        for (Path out : new Path[]{ckpt.resolve("model.gguf"), ckpt.resolve("model.safetensors"), dir.resolve("run/model.gguf")})
            refused(out, true, "lies inside the");
    }

    @Test
    void aLinkIntoARunIsSeenThrough() throws IOException {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), ckpt);
        refused(link.resolve("model.gguf"), true, "lies inside the checkpoint " + ckpt.toRealPath());
    }

    @Test
    void anExistingFileNeedsForceAndAFolderIsNotAFile() throws IOException {
        Path out = Files.writeString(dir.resolve("model.gguf"), "old");
        refused(out, false, "exists; give --force");
        OutputPaths.check(out, OutputPaths.Kind.FILE, true, "--out");
        OutputPaths.check(dir.resolve("new.gguf"), OutputPaths.Kind.FILE, false, "--out");
        refused(dir, true, "is a folder");
    }

    @Test
    void theInputItselfIsNeverAnOutput() throws IOException {
        Path model = TinyCheckpoints.modelFolder(dir.resolve("hf"));
        Exception e = assertThrows(OutputPaths.Refused.class,
                () -> OutputPaths.check(model, OutputPaths.Kind.FOLDER, true, "--out", model));
        assertTrue(e.getMessage().contains("is the input"), e.getMessage());
        e = assertThrows(OutputPaths.Refused.class,
                () -> OutputPaths.check(model.resolve("x.gguf"), OutputPaths.Kind.FILE, true, "--out", model));
        assertTrue(e.getMessage().contains("lies inside the input"), e.getMessage());
    }

    private static void refused(Path out, boolean force, String expected) {
        Exception e = assertThrows(OutputPaths.Refused.class, () -> OutputPaths.check(out, OutputPaths.Kind.FILE, force, "--out"));
        assertTrue(e.getMessage().contains("--out " + out) && e.getMessage().contains(expected), e.getMessage());
    }
}
