package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

import tern.checkpoint.AtomicFiles;

/**
 * How the ranks of one host meet: rank 0 writes NCCL's unique id into a file of the run folder (temp +
 * fsync + rename, so a reader never sees half of it), the other ranks wait for the file to appear. The
 * file is hex text with a generation tag, so a stale id left by an earlier job is not mistaken for this
 * job's: each launch passes the same fresh tag to all its ranks.
 */
public final class RendezvousFile {
    /** The size of NCCL's ncclUniqueId (tern.cuda.Nccl.UNIQUE_ID_BYTES; this class must not load CUDA). */
    public static final int ID_BYTES = 128;

    private RendezvousFile() {}

    /** Rank 0: publishes {@code id} for job {@code tag}. */
    public static void publish(Path file, String tag, byte[] id) throws IOException {
        if (id.length != ID_BYTES) throw new IllegalArgumentException("an NCCL unique id has " + ID_BYTES + " bytes, not " + id.length);
        if (tag.isBlank() || tag.contains("\n")) throw new IllegalArgumentException("bad job tag '" + tag + "'");
        AtomicFiles.writeString(file, tag + "\n" + HexFormat.of().formatHex(id) + "\n");
    }

    /**
     * The other ranks: the id rank 0 published for {@code tag}, waiting up to {@code timeoutMillis} for it;
     * a file of another job is waited past, a malformed one of this job is an error naming the file.
     */
    public static byte[] await(Path file, String tag, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000;
        while (true) {
            if (Files.isRegularFile(file)) {
                String[] lines = Files.readString(file).split("\n");
                if (lines.length >= 1 && lines[0].equals(tag)) {
                    if (lines.length < 2) throw new IOException(file + ": no id after the job tag");
                    byte[] id;
                    try {
                        id = HexFormat.of().parseHex(lines[1].strip());
                    } catch (IllegalArgumentException e) {
                        throw new IOException(file + ": the id is not hex: " + e.getMessage());
                    }
                    if (id.length != ID_BYTES) throw new IOException(file + ": the id has " + id.length + " bytes, not " + ID_BYTES);
                    return id;
                }
            }
            if (System.nanoTime() > deadline)
                throw new IOException(file + ": rank 0 published no NCCL id for job " + tag + " within " + timeoutMillis + " ms");
            Thread.sleep(20);
        }
    }
}
