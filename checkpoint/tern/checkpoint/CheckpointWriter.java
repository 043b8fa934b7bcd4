package tern.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * A directory of checkpoints, written crash-safely. Each checkpoint is a sub-directory of several files
 * plus a {@link CheckpointManifest}; {@code latest} names the newest complete one.
 *
 * <p>Writing {@code NAME}: everything goes into {@code NAME.tmp/}, each file fsynced, the manifest last,
 * the directory fsynced; then {@code NAME.tmp} is renamed to {@code NAME} and the parent fsynced; then the
 * {@code latest} marker is replaced atomically. A crash at any point leaves the previous checkpoint and
 * marker intact. Re-writing an existing {@code NAME} renames the old one aside to {@code NAME.old} first
 * (a non-empty directory cannot be renamed over) and deletes it only once the new one is in place; a
 * crash in between is repaired by {@link #recover()}, and {@link #latest()} finds the {@code .old} copy
 * meanwhile. One writer per directory at a time.
 */
public final class CheckpointWriter {
    public static final String LATEST = "latest";
    private static final String TMP = ".tmp", OLD = ".old";

    private final Path root;
    private final UnaryOperator<WritableByteChannel> channels;

    public CheckpointWriter(Path root) { this(root, UnaryOperator.identity()); }

    /** Tests wrap each file's channel to inject failures (a disk that fills up mid-file). */
    CheckpointWriter(Path root, UnaryOperator<WritableByteChannel> channels) {
        this.root = root;
        this.channels = channels;
    }

    public Path root() { return root; }

    /**
     * Writes checkpoint {@code name} with the given files (name → content, in order) and points
     * {@code latest} at it. Any failure removes the partial {@code name.tmp}, leaves the previous
     * checkpoints untouched, and throws a {@link CheckpointException} naming the path that failed.
     */
    public Path write(String name, Map<String, AtomicFiles.Content> files) {
        checkName(name, "checkpoint");
        for (String f : files.keySet()) {
            checkName(f, "file");
            if (f.equals(CheckpointManifest.FILE)) throw new IllegalArgumentException(f + " is written by the checkpoint writer itself");
        }
        Path dir = root.resolve(name), tmp = root.resolve(name + TMP), old = root.resolve(name + OLD);
        Path current = root;
        try {
            Files.createDirectories(root);
            recover();
            long sequence = complete().stream().mapToLong(p -> CheckpointManifest.read(p).sequence()).max().orElse(0) + 1;
            current = tmp;
            Files.createDirectory(tmp);
            Map<String, CheckpointManifest.FileInfo> infos = new LinkedHashMap<>();
            for (Map.Entry<String, AtomicFiles.Content> e : files.entrySet()) {
                current = tmp.resolve(e.getKey());
                infos.put(e.getKey(), writeFile(current, e.getValue()));
            }
            current = tmp.resolve(CheckpointManifest.FILE);
            AtomicFiles.writeDurably(current, AtomicFiles.utf8(new CheckpointManifest(sequence, infos).toJson()));
            current = tmp;
            AtomicFiles.fsyncDirectory(tmp);
            boolean replacing = Files.exists(dir);
            current = dir;
            if (replacing) AtomicFiles.move(dir, old);
            AtomicFiles.move(tmp, dir);
            AtomicFiles.fsyncDirectory(root);
            current = root.resolve(LATEST);
            AtomicFiles.writeString(current, name + "\n");
            if (replacing) AtomicFiles.deleteQuietly(old);     // the new one is complete: a leftover .old is only litter
            return dir;
        } catch (IOException | RuntimeException e) {
            AtomicFiles.deleteQuietly(tmp);
            try {
                if (Files.isDirectory(old) && !Files.exists(dir)) AtomicFiles.move(old, dir);   // undo the rename aside
            } catch (IOException ignored) {
                // recover() retries; latest() finds the .old copy meanwhile
            }
            if (e instanceof CheckpointException ce) throw ce;
            throw new CheckpointException(current, "checkpoint '" + name + "' could not be written", e);
        }
    }

    private CheckpointManifest.FileInfo writeFile(Path file, AtomicFiles.Content content) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ChecksummingChannel out = new ChecksummingChannel(channels.apply(ch));
            content.writeTo(out);
            ch.force(true);
            return new CheckpointManifest.FileInfo(out.bytes(), out.crc32());
        }
    }

    /**
     * Repairs what a crash can leave: deletes {@code *.tmp} (never complete), and for {@code NAME.old}
     * either deletes it (NAME is in place) or renames it back (the crash came between the two renames).
     */
    public void recover() {
        if (!Files.isDirectory(root)) return;
        try (Stream<Path> entries = Files.list(root)) {
            for (Path p : entries.toList()) {
                String n = p.getFileName().toString();
                if (n.endsWith(TMP)) AtomicFiles.deleteRecursively(p);
                else if (n.endsWith(OLD) && Files.isDirectory(p)) {
                    Path base = root.resolve(n.substring(0, n.length() - OLD.length()));
                    if (Files.exists(base)) AtomicFiles.deleteRecursively(p);
                    else AtomicFiles.move(p, base);
                }
            }
            AtomicFiles.fsyncDirectory(root);
        } catch (IOException e) {
            throw new CheckpointException(root, "could not clean up after an interrupted checkpoint", e);
        }
    }

    /** Complete checkpoints (a readable manifest, not .tmp/.old), oldest first by sequence. */
    public List<Path> complete() {
        if (!Files.isDirectory(root)) return List.of();
        List<Path> out = new ArrayList<>();
        Map<Path, Long> sequence = new LinkedHashMap<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path p : entries.toList()) {
                String n = p.getFileName().toString();
                if (!Files.isDirectory(p) || n.endsWith(TMP) || n.endsWith(OLD)) continue;
                try {
                    sequence.put(p, CheckpointManifest.read(p).sequence());
                    out.add(p);
                } catch (CheckpointException notACheckpoint) {
                    // a folder without a valid manifest is not a checkpoint of ours
                }
            }
        } catch (IOException e) {
            throw new CheckpointException(root, "cannot list checkpoints", e);
        }
        out.sort(Comparator.comparingLong(sequence::get));
        return out;
    }

    /**
     * Folders that look like checkpoints (not .tmp/.old) but are not complete ones, each with the reason
     * (its manifest missing or unreadable), for an error that has to say why no checkpoint was found.
     */
    public List<String> incomplete() {
        if (!Files.isDirectory(root)) return List.of(root + " does not exist");
        List<String> out = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path p : entries.sorted().toList()) {
                String n = p.getFileName().toString();
                if (!Files.isDirectory(p) || n.endsWith(TMP) || n.endsWith(OLD)) continue;
                try {
                    CheckpointManifest.read(p);
                } catch (CheckpointException e) {
                    out.add(n + " is incomplete (" + e.getMessage() + ")");
                }
            }
        } catch (IOException e) {
            return List.of(root + " cannot be listed (" + e.getMessage() + ")");
        }
        return out;
    }

    /**
     * The checkpoint to resume from: the one {@code latest} names (or its {@code .old} copy, mid-replace),
     * else the newest complete one; empty when there is none.
     */
    public Optional<Path> latest() {
        Path marker = root.resolve(LATEST);
        if (Files.isRegularFile(marker)) {
            try {
                String name = Files.readString(marker).strip();
                if (isName(name)) {
                    for (Path p : List.of(root.resolve(name), root.resolve(name + OLD)))
                        if (Files.isRegularFile(p.resolve(CheckpointManifest.FILE))) return Optional.of(p);
                }
            } catch (IOException ignored) {
                // an unreadable marker: fall back to the manifests' sequence numbers
            }
        }
        List<Path> all = complete();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
    }

    /**
     * Deletes all but the {@code keep} newest complete checkpoints (never the one {@link #latest()} names);
     * returns the deleted directories.
     */
    public List<Path> keepNewest(int keep) {
        if (keep < 1) throw new IllegalArgumentException("keep at least one checkpoint, not " + keep);
        List<Path> all = complete();
        Optional<Path> latest = latest();
        List<Path> deleted = new ArrayList<>();
        for (int i = 0; i < all.size() - keep; i++) {
            Path p = all.get(i);
            if (latest.isPresent() && latest.get().equals(p)) continue;
            try {
                Path doomed = root.resolve(p.getFileName() + TMP);   // renamed first: a kill mid-delete leaves no half checkpoint under a complete name
                AtomicFiles.move(p, doomed);
                AtomicFiles.deleteRecursively(doomed);
            } catch (IOException e) {
                throw new CheckpointException(p, "could not delete an old checkpoint", e);
            }
            deleted.add(p);
        }
        return deleted;
    }

    /** Checks a checkpoint's files against its manifest (sizes and CRC32s). */
    public static CheckpointManifest verify(Path checkpoint) {
        CheckpointManifest m = CheckpointManifest.read(checkpoint);
        m.verify(checkpoint);
        return m;
    }

    private static boolean isName(String n) {
        return !n.isEmpty() && !n.equals(".") && !n.equals("..") && n.indexOf('/') < 0 && n.indexOf('\\') < 0
                && n.indexOf('\0') < 0 && !n.endsWith(TMP) && !n.endsWith(OLD) && !n.equals(LATEST);
    }

    private static void checkName(String n, String what) {
        if (!isName(n))
            throw new IllegalArgumentException("'" + n + "' cannot name a " + what + " (a plain name, not ending in "
                    + TMP + " or " + OLD + ", not '" + LATEST + "')");
    }
}
