package tern.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * {@code manifest.json} inside a checkpoint directory: a sequence number (which checkpoint is newer, whatever
 * the names) and each file's size and CRC32, so a checkpoint damaged after it was written is caught before
 * training resumes from it.
 */
public record CheckpointManifest(long sequence, Map<String, FileInfo> files) {
    public static final String FILE = "manifest.json";
    static final String FORMAT = "tern-checkpoint/1";

    public record FileInfo(long bytes, long crc32) {}

    public CheckpointManifest {
        files = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(files));   // keeps the write order
    }

    String toJson() {
        Map<String, Object> fileMap = new LinkedHashMap<>();
        for (Map.Entry<String, FileInfo> e : files.entrySet())
            fileMap.put(e.getKey(), Map.of("bytes", e.getValue().bytes(), "crc32", Checksums.hex(e.getValue().crc32())));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", FORMAT);
        root.put("sequence", sequence);
        root.put("files", fileMap);
        return Json.pretty(root);
    }

    /** Reads {@code dir/manifest.json}; a missing or malformed manifest is an error naming it. */
    public static CheckpointManifest read(Path dir) {
        Path file = dir.resolve(FILE);
        Map<String, Object> root;
        try {
            root = Json.parseObject(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "missing: " + dir + " is not a complete checkpoint");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read", e);
        } catch (Json.JsonException e) {
            throw new CheckpointException(file, "not valid JSON: " + e.getMessage());
        }
        if (!FORMAT.equals(root.get("format")))
            throw new CheckpointException(file, "format is " + root.get("format") + ", expected " + FORMAT);
        if (!(root.get("sequence") instanceof Long sequence) || sequence < 0)
            throw new CheckpointException(file, "field sequence must be a non-negative integer, not " + root.get("sequence"));
        if (!(root.get("files") instanceof Map<?, ?> fileMap))
            throw new CheckpointException(file, "field files must be an object");
        Map<String, FileInfo> files = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : fileMap.entrySet()) {
            String where = "files." + e.getKey();
            if (!(e.getValue() instanceof Map<?, ?> info) || !(info.get("bytes") instanceof Long bytes) || bytes < 0
                    || !(info.get("crc32") instanceof String crc) || crc.length() != 8)
                throw new CheckpointException(file, "field " + where + " must hold bytes (integer) and crc32 (8 hex digits)");
            try {
                files.put((String) e.getKey(), new FileInfo(bytes, Long.parseLong(crc, 16)));
            } catch (NumberFormatException bad) {
                throw new CheckpointException(file, "field " + where + ".crc32 = '" + crc + "' is not hexadecimal");
            }
        }
        return new CheckpointManifest(sequence, files);
    }

    /** Checks every listed file's size and CRC32; the first mismatch is an error naming the file. */
    public void verify(Path dir) {
        for (Map.Entry<String, FileInfo> e : files.entrySet()) {
            Path file = dir.resolve(e.getKey());
            try {
                long size = Files.size(file);
                if (size != e.getValue().bytes())
                    throw new CheckpointException(file, "is " + size + " bytes, the manifest says " + e.getValue().bytes() + " (truncated or replaced)");
                long crc = crc32(file);
                if (crc != e.getValue().crc32())
                    throw new CheckpointException(file, "checksum mismatch (CRC32 " + Checksums.hex(crc) + ", manifest says "
                            + Checksums.hex(e.getValue().crc32()) + "): the file is corrupt");
            } catch (NoSuchFileException missing) {
                throw new CheckpointException(file, "listed in the manifest but missing");
            } catch (IOException io) {
                throw new CheckpointException(file, "cannot read", io);
            }
        }
    }

    private static long crc32(Path file) throws IOException {
        CRC32 crc = new CRC32();
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
        }
        return crc.getValue();
    }
}
