package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file through which rank 0 hands NCCL's unique id to the other ranks of one host. */
class RendezvousFileTest {
    private static byte[] id(long seed) {
        byte[] b = new byte[RendezvousFile.ID_BYTES];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void aRankWaitingBeforeRankZeroPublishesGetsTheId(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("nccl-id");
        byte[] id = id(1);
        CompletableFuture<byte[]> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return RendezvousFile.await(f, "job-7", 10_000);
            } catch (IOException | InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        Thread.sleep(100);
        RendezvousFile.publish(f, "job-7", id);
        assertArrayEquals(id, waiting.get(10, TimeUnit.SECONDS));
    }

    @Test
    void anIdOfAnotherJobIsWaitedPastUntilTheTimeout(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("nccl-id");
        RendezvousFile.publish(f, "old-job", id(2));
        IOException e = assertThrows(IOException.class, () -> RendezvousFile.await(f, "new-job", 200));
        assertTrue(e.getMessage().contains("new-job") && e.getMessage().contains(f.toString()), e.getMessage());
    }

    @Test
    void aMalformedIdIsNamed(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("nccl-id");
        Files.writeString(f, "job\nnot-hex\n");
        IOException e = assertThrows(IOException.class, () -> RendezvousFile.await(f, "job", 1000));
        assertTrue(e.getMessage().contains("not hex"), e.getMessage());
        Files.writeString(f, "job\nabcd\n");
        e = assertThrows(IOException.class, () -> RendezvousFile.await(f, "job", 1000));
        assertTrue(e.getMessage().contains("2 bytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RendezvousFile.publish(f, "job", new byte[3]));
    }
}
