package tern.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * The packed file container: random section sets round-trip bit for bit with every section on a 64-byte
 * boundary; a file cut at any point, or with any single byte altered, is refused with the file named.
 */
class PackedFileTest {

    private static Path tempDir() throws Exception { return Files.createTempDirectory("packedfile"); }

    private static List<byte[]> write(Path file, Random rnd, int sections) {
        PackedFileWriter w = new PackedFileWriter();
        List<byte[]> data = new ArrayList<>();
        for (int i = 0; i < sections; i++) {
            byte[] b = new byte[rnd.nextInt(300)];
            rnd.nextBytes(b);
            data.add(b);
            w.add("t" + i, "u8", new long[] {b.length}, Map.of("note", "section " + i), MemorySegment.ofArray(b));
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("hidden_size", 64L);
        w.write(file, config, Map.of("by", "test"));
        return data;
    }

    // 30 tries: each writes and maps a small file (fsync included).
    @Property(tries = 30)
    void sectionsRoundTripAligned(@ForAll @IntRange(min = 0, max = 8) int sections, @ForAll long seed) throws Exception {
        Path dir = tempDir(), file = dir.resolve("m.tern");
        List<byte[]> data = write(file, new Random(seed), sections);
        try (PackedFile f = PackedFile.open(file)) {
            assertEquals(64L, f.config().get("hidden_size"));
            assertEquals("test", f.metadata().get("by"));
            assertEquals(sections, f.entries().size());
            for (int i = 0; i < sections; i++) {
                PackedFile.Entry e = f.entry("t" + i);
                assertEquals(0, e.offset() % 64, "section offset " + e.offset());
                assertEquals("section " + i, e.attributes().get("note"));
                assertArrayEquals(data.get(i), f.bytes("t" + i).toArray(ValueLayout.JAVA_BYTE));
            }
            CheckpointException missing = assertThrows(CheckpointException.class, () -> f.entry("nope"));
            assertTrue(missing.getMessage().contains("'nope'"));
        }
    }

    @Test
    void everyTruncationAndEveryAlteredByteIsRefused() throws Exception {
        Path dir = tempDir(), file = dir.resolve("m.tern");
        write(file, new Random(5), 3);
        byte[] good = Files.readAllBytes(file);
        Path bad = dir.resolve("bad.tern");
        for (int cut = 0; cut < good.length; cut += 7) {
            Files.write(bad, java.util.Arrays.copyOf(good, cut));
            CheckpointException e = assertThrows(CheckpointException.class, () -> PackedFile.open(bad).close(), "cut at " + cut);
            assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        }
        // Trailing junk is refused too (the preamble records the exact length).
        Files.write(bad, java.util.Arrays.copyOf(good, good.length + 1));
        assertTrue(assertThrows(CheckpointException.class, () -> PackedFile.open(bad)).getMessage().contains("trailing"));
        // Every single altered byte is caught: magic, version, lengths, reserved zeros, header CRC, header,
        // section data (CRC32C) and the zero padding between sections.
        for (int at = 0; at < good.length; at++) {
            byte[] b = good.clone();
            b[at] ^= 0x5A;
            Files.write(bad, b);
            CheckpointException e = assertThrows(CheckpointException.class, () -> PackedFile.open(bad).close(), "altered byte " + at);
            assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        }
    }
}
