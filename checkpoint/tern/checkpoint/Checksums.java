package tern.checkpoint;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Per-tensor CRC32s kept in a safetensors file's string metadata under {@code tern.crc32.<name>} (8 hex
 * digits), so a flipped bit in the data is caught at load. Files from other writers carry none and are
 * accepted; a checksum that names no tensor, or is not 8 hex digits, is itself corruption.
 */
final class Checksums {
    static final String PREFIX = "tern.crc32.";
    private static final int CHUNK = 1 << 24;

    private Checksums() {}

    static String key(String tensor) { return PREFIX + tensor; }

    static String hex(long crc) { return String.format("%08x", crc); }

    /** CRC32 of the bytes, in chunks so segments over 2 GiB work. */
    static long crc32(MemorySegment bytes) {
        CRC32 crc = new CRC32();
        for (long at = 0; at < bytes.byteSize(); at += CHUNK)
            crc.update(bytes.asSlice(at, Math.min(CHUNK, bytes.byteSize() - at)).asByteBuffer());
        return crc.getValue();
    }

    static void verify(SafetensorsHeader header, MemorySegment file) {
        for (Map.Entry<String, String> m : header.metadata().entrySet()) {
            if (!m.getKey().startsWith(PREFIX)) continue;
            String name = m.getKey().substring(PREFIX.length());
            SafetensorsHeader.Entry e = header.entries().get(name);
            if (e == null)
                throw new CheckpointException(header.file(), "metadata " + m.getKey() + " is a checksum of a tensor the file does not have");
            String expected = m.getValue();
            if (expected.length() != 8 || !expected.chars().allMatch(HexFormat::isHexDigit))
                throw new CheckpointException(header.file(), "metadata " + m.getKey() + " = '" + expected + "' is not 8 hex digits");
            long actual = crc32(file.asSlice(header.dataStart() + e.begin(), e.byteSize()));
            if (actual != Long.parseLong(expected, 16))
                throw new CheckpointException(header.file(), "tensor '" + name + "': checksum mismatch (CRC32 " + hex(actual)
                        + ", header says " + expected + "): the data is corrupt");
        }
    }
}
