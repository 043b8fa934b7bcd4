package tern.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Every kind of damage to a safetensors file is refused with a {@link CheckpointException} whose message
 * names the file and the tensor or field at fault, before any tensor is handed out.
 */
class SafetensorsCorruptionTest {
    private final Path dir;
    private int files;

    SafetensorsCorruptionTest() throws IOException { dir = Files.createTempDirectory("tern-bad"); }

    @AfterProperty
    @AfterEach
    void cleanUp() throws IOException { AtomicFiles.deleteRecursively(dir); }

    // ---- hand-made headers: one defect each ----------------------------------------------------------------

    @Test
    void truncatedBeforeTheHeaderSize() throws IOException {
        refused(new byte[5], "truncated: 5 bytes");
    }

    @Test
    void headerSizeLargerThanTheFile() throws IOException {
        byte[] good = valid();
        ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).putLong(0, good.length);
        refused(good, "header size " + good.length + " does not fit the file");
        ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1L);       // 2^64 − 1 as unsigned
        refused(good, "header size 18446744073709551615 does not fit");
    }

    @Test
    void malformedJson() throws IOException {
        refused(craft("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", new byte[4]), "header is not valid JSON");
        refused(craft("[1, 2]", new byte[0]), "header is not valid JSON");
    }

    @Test
    void invalidUtf8() throws IOException {
        byte[] header = "{\"\u00e9\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}".getBytes(StandardCharsets.UTF_8);
        header[3] = (byte) 0xFF;
        refused(craft(header, new byte[4]), "header is not valid UTF-8");
    }

    @Test
    void unknownDtype() throws IOException {
        refused(craft(entry("w", "F33", "[1]", 0, 4), new byte[4]), "tensor 'w': unknown dtype 'F33'");
    }

    @Test
    void missingOrMistypedFields() throws IOException {
        refused(craft("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", new byte[4]), "tensor 'w': missing or non-string dtype");
        refused(craft(entry("w", "F32", "[-1]", 0, 4), new byte[4]), "tensor 'w': shape[0] = -1 is not an integer");
        refused(craft(entry("w", "F32", "[1.5]", 0, 4), new byte[4]), "tensor 'w': shape[0] = 1.5");
        refused(craft("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", new byte[4]), "tensor 'w': data_offsets must be a list of 2");
        refused(craft("{\"w\": 7}", new byte[0]), "tensor 'w': expected an object");
        refused(craft("{\"__metadata__\": {\"format\": 1}}", new byte[0]), "field __metadata__.format must be a string");
    }

    @Test
    void shapeDisagreesWithTheSpan() throws IOException {
        refused(craft(entry("w", "F32", "[2, 3]", 0, 20), new byte[20]), "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20");
        refused(craft(entry("w", "BF16", "[2, 3]", 0, 24), new byte[24]), "tensor 'w': shape [2, 3] of BF16 needs 12 bytes");
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        refused(craft(entry("w", "F32", "[2]", 0, 8), new byte[4]), "tensor 'w': data_offsets [0, 8] run past the data section of 4 bytes");
        refused(craft(entry("w", "F32", "[0]", 9, 9), new byte[4]), "tensor 'w': data_offsets [9, 9] run past");
        refused(craft(entry("w", "F32", "[1]", 4, 0), new byte[4]), "tensor 'w': data_offsets [4, 0] end before they begin");
    }

    @Test
    void overlappingOffsets() throws IOException {
        String header = "{" + body("a", "F32", "[2]", 0, 8) + "," + body("b", "F32", "[2]", 4, 12) + "}";
        refused(craft(header, new byte[12]), "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8)");
    }

    @Test
    void gapsAndUndescribedBytes() throws IOException {
        String header = "{" + body("a", "F32", "[1]", 0, 4) + "," + body("b", "F32", "[1]", 8, 12) + "}";
        refused(craft(header, new byte[12]), "tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes");
        refused(craft(entry("a", "F32", "[1]", 0, 4), new byte[9]), "5 bytes after the last tensor are not described");
    }

    @Test
    void checksumOfAMissingTensorOrMalformed() throws IOException {
        refused(craft("{\"__metadata__\": {\"tern.crc32.ghost\": \"00000000\"}}", new byte[0]),
                "metadata tern.crc32.ghost is a checksum of a tensor the file does not have");
        refused(craft("{\"__metadata__\": {\"tern.crc32.w\": \"xyz\"}," + body("w", "F32", "[1]", 0, 4) + "}", new byte[4]),
                "metadata tern.crc32.w = 'xyz' is not 8 hex digits");
    }

    @Test
    void flippedDataByteFailsItsChecksum() throws IOException {
        byte[] good = valid();
        good[good.length - 3] ^= 0x10;                      // inside the last tensor, "second"
        refused(good, "tensor 'second': checksum mismatch");
    }

    @Test
    void unsupportedButValidDtypeIsReadableRawNotAsATensor() throws IOException {
        Path file = write(craft(entry("w", "F64", "[1]", 0, 8), new byte[8]));
        try (SafetensorsFile f = Safetensors.open(file)) {
            assertEquals(8, f.bytes("w").byteSize());
            CheckpointException e = assertThrows(CheckpointException.class, () -> f.tensor("w"));
            assertContains(e, file.getFileName() + ": tensor 'w': dtype F64 cannot be loaded");
            assertContains(assertThrows(CheckpointException.class, () -> f.tensor("nope")), "no tensor named 'nope'");
            assertContains(assertThrows(CheckpointException.class, () -> f.tensor("w", 2)), "tensor 'w': shape [1], expected [2]");
        }
    }

    @Test
    void missingFile() {
        Path file = dir.resolve("absent.safetensors");
        assertContains(assertThrows(CheckpointException.class, () -> Safetensors.open(file)), file + ": cannot read");
    }

    // ---- properties over a real file ---------------------------------------------------------------------

    /** Any truncation of a valid file is refused (the size field, the header, or the data no longer fit). */
    @Property(tries = 40)
    void everyTruncationIsRefused(@ForAll @IntRange(min = 0, max = 10_000) int cut) throws IOException {
        byte[] good = valid();
        int length = cut % good.length;
        byte[] bad = java.util.Arrays.copyOf(good, length);
        Path file = write(bad);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.open(file).close(), "cut at " + length);
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    }

    /** Any single bit flipped in the data section is caught by that tensor's checksum. */
    @Property(tries = 60)
    void everyDataBitFlipIsCaught(@ForAll @IntRange(min = 0, max = 1 << 20) int where, @ForAll @IntRange(min = 0, max = 7) int bit) throws IOException {
        byte[] good = valid();
        long headerSize = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int dataStart = (int) (8 + headerSize);
        int at = dataStart + where % (good.length - dataStart);
        good[at] ^= (byte) (1 << bit);
        String tensor = at - dataStart < 4 * 6 ? "first" : "second";
        refused(good, "tensor '" + tensor + "': checksum mismatch");
    }

    // ---- duplicates and the header cap (issue #14, item 8) ---------------------------------------------------

    @Test
    void duplicateTensorNameIsRefusedByName() throws IOException {
        // With the last one winning, this used to fail later as "a gap of 4 bytes" before the survivor.
        String header = "{" + body("a", "F32", "[1]", 0, 4) + ", " + body("a", "F32", "[1]", 4, 8) + "}";
        refused(craft(header, new byte[8]), "duplicate key 'a'");
    }

    @Test
    void duplicateMetadataKeyIsRefused() throws IOException {
        String header = "{\"__metadata__\": {\"format\": \"pt\", \"format\": \"np\"}, " + body("a", "F32", "[1]", 0, 4) + "}";
        refused(craft(header, new byte[4]), "duplicate key 'format'");
    }

    @Test
    void theCapIsSafetensorsOwn() {
        assertEquals(100_000_000L, SafetensorsHeader.MAX_HEADER_BYTES);      // MAX_HEADER_SIZE of the reference implementation
    }

    @Test
    void headerOverTheCapIsRefusedBeforeItIsRead() throws IOException {
        long size = SafetensorsHeader.MAX_HEADER_BYTES + 1;
        Path file = dir.resolve("huge-header.safetensors");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(8 + size + 8);                                        // sparse: no disk used
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, size).array());
            f.write('{');
        }
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.open(file).close());
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertContains(e, file + ": header size " + size + " exceeds the limit of 100000000 bytes");
        assertTrue(allocated < 1 << 20, "allocated " + allocated + " bytes refusing a header it should not read");
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** A valid file: "first" f32 [2,3], "second" f32 [5], with checksums. */
    private byte[] valid() throws IOException {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("first", Tensor.of(new float[]{1, 2, 3, 4, 5, 6}, 2, 3));
        m.put("second", Tensor.of(new float[]{-1, -2, -3, -4, -5}, 5));
        Path file = dir.resolve("valid" + files++ + ".safetensors");
        SafetensorsRoundTripTest.writePlain(file, m, Map.of(), DType.F32);
        m.values().forEach(Tensor::close);
        return Files.readAllBytes(file);
    }

    private static String body(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": [" + begin + ", " + end + "]}";
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "{" + body(name, dtype, shape, begin, end) + "}";
    }

    private static byte[] craft(String header, byte[] data) { return craft(header.getBytes(StandardCharsets.UTF_8), data); }

    private static byte[] craft(byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        return b.array();
    }

    private Path write(byte[] bytes) throws IOException {
        Path file = dir.resolve("bad" + files++ + ".safetensors");
        Files.write(file, bytes);
        return file;
    }

    private void refused(byte[] bytes, String expected) throws IOException {
        Path file = write(bytes);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.open(file).close());
        assertEquals(file, e.file());
        assertContains(e, file + ": ");
        assertContains(e, expected);
    }

    private static void assertContains(Exception e, String expected) {
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' should contain '" + expected + "'");
    }
}
