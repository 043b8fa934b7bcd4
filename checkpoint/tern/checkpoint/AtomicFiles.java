package tern.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * The durable-write primitives checkpoints are built from: write to a temporary name, fsync the file,
 * rename over the final name (atomic on POSIX file systems), fsync the directory so the rename itself
 * survives a power cut. A reader therefore sees the old file or the new one, never a torn one.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** A file's content, streamed to a channel. May throw at any point; the partial file is then discarded. */
    @FunctionalInterface
    public interface Content {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    /** Writes {@code target} atomically: {@code target.tmp}, fsync, rename, fsync the parent. */
    public static void writeFile(Path target, Content content) {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try {
            Files.deleteIfExists(tmp);                       // left by a crash: never a good file
            writeDurably(tmp, content);
            move(tmp, target);
            fsyncDirectory(parent(target));
        } catch (IOException | RuntimeException e) {
            deleteQuietly(tmp);
            if (e instanceof CheckpointException ce) throw ce;
            throw new CheckpointException(target, "could not be written", e);
        }
    }

    /** Writes a small text file atomically (markers, JSON). */
    public static void writeString(Path target, String text) {
        writeFile(target, utf8(text));
    }

    /** Content of a UTF-8 string. */
    public static Content utf8(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return out -> Safetensors.writeFully(out, ByteBuffer.wrap(bytes));
    }

    /** Creates {@code file} (which must not exist), streams the content into it and forces it to disk. */
    static void writeDurably(Path file, Content content) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            content.writeTo(ch);
            ch.force(true);
        }
    }

    /** Atomic rename; replaces an existing file (a directory target must not exist or be empty). */
    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the file system cannot rename " + from + " to " + to + " atomically", e);
        }
    }

    /**
     * Forces a directory's entries (new names, renames) to disk. Linux allows fsync on a directory opened
     * for reading; where a platform refuses to open directories at all there is nothing to force.
     */
    public static void fsyncDirectory(Path dir) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(dir, StandardOpenOption.READ);
        } catch (IOException | UnsupportedOperationException e) {
            if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir.toString());
            return;
        }
        try (ch) {
            ch.force(true);
        }
    }

    /** Deletes a file or a directory tree; absent is fine. */
    public static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(path, new SimpleFileVisitor<>() {
            @Override public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                if (e != null) throw e;
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** Best-effort cleanup on a path that already failed; the original error is what the caller reports. */
    static void deleteQuietly(Path path) {
        try {
            deleteRecursively(path);
        } catch (IOException ignored) {
            // the write already failed; a leftover .tmp is removed by the next write or recovery
        }
    }

    static Path parent(Path p) {
        Path parent = p.toAbsolutePath().getParent();
        return parent == null ? p.toAbsolutePath().getRoot() : parent;
    }
}
