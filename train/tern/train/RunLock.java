package tern.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * The run folder's lock, held while a trainer writes there: an OS file lock on {@code RUN/train.lock}
 * (released by the OS when the process dies, so a crash leaves no stale lock to clear by hand). A second
 * trainer on the same folder, in this process or another, is refused with the holder's pid. The file itself
 * stays behind (deleting it while another process opens it would let two trainers lock two different files);
 * its content, the holder's pid and start time, only makes the refusal readable.
 */
public final class RunLock implements AutoCloseable {
    public static final String FILE = "train.lock";

    /** Another trainer holds the folder. */
    public static final class RunInUse extends IOException {
        RunInUse(String message) { super(message); }
    }

    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Locks {@code runDir} (created if missing) or throws {@link RunInUse}. */
    public static RunLock acquire(Path runDir) throws IOException {
        Files.createDirectories(runDir);
        Path file = runDir.resolve(FILE);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;                                            // held by this very process
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            String holder;
            try {
                holder = Files.readString(file, StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                holder = "unknown";
            }
            channel.close();
            throw new RunInUse(runDir + " is in use by another trainer (" + (holder.isEmpty() ? "holder unknown" : holder)
                    + "): wait for it to finish or stop it (Ctrl-C saves a checkpoint), then resume");
        }
        try {
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + " since " + Instant.now() + "\n")
                    .getBytes(StandardCharsets.UTF_8)), 0);
            channel.force(false);
        } catch (IOException e) {
            lock.release();
            channel.close();
            throw e;
        }
        return new RunLock(channel, lock);
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the OS drops the lock with the channel or the process in any case
        }
    }
}
