package tern.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
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
import net.jqwik.api.lifecycle.AfterProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Tensor;

/** Write → read round trips: bit-exact for f32, i32 and i8; exactly the rounded bits for f16 and bf16. */
class SafetensorsRoundTripTest {
    private final Path dir;
    private int files;                    // jqwik repeats seeds (edge cases): names come from a counter

    SafetensorsRoundTripTest() throws IOException { dir = Files.createTempDirectory("tern-st"); }

    @AfterProperty
    @AfterEach
    void cleanUp() throws IOException { AtomicFiles.deleteRecursively(dir); }

    // 60 tries: each writes and maps a file of up to ~8 tensors; enough to hit empty tensors, rank 0..4 and
    // odd sizes while the whole class stays around a second on 2 cores.
    @Property(tries = 60)
    void f32TensorsRoundTripBitExact(@ForAll long seed, @ForAll @IntRange(min = 0, max = 8) int count) throws IOException {
        Random rnd = new Random(seed);
        Map<String, Tensor> tensors = randomTensors(rnd, count, DType.F32);
        Map<String, String> meta = Map.of("note", "seed " + seed, "unicode ✓", "naïve \"quoted\"\n");
        Path file = dir.resolve("t" + files++ + ".safetensors");
        if ((seed & 7) == 0) Safetensors.write(file, tensors, meta);     // the atomic, fsynced path
        else writePlain(file, tensors, meta, DType.F32);                     // the same bytes without fsync: cheaper
        try (SafetensorsFile f = Safetensors.open(file)) {
            assertEquals(List.copyOf(tensors.keySet()), f.names(), "names in write order");
            assertEquals("pt", f.metadata().get("format"), "transformers needs format=pt");
            for (Map.Entry<String, String> m : meta.entrySet()) assertEquals(m.getValue(), f.metadata().get(m.getKey()));
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor back = f.tensor(e.getKey());
                assertArrayEquals(e.getValue().shape(), back.shape(), e.getKey());
                assertArrayEquals(bits(e.getValue()), bits(back), e.getKey() + ": bits differ");
                assertEquals(Files.size(file), back.storage().byteSize(), e.getKey() + " is a view of the whole mapping, not a copy");
            }
        }
        tensors.values().forEach(Tensor::close);
    }

    @Property(tries = 40)
    void halfPrecisionStorageHoldsTheRoundedBits(@ForAll long seed, @ForAll boolean bf16) throws IOException {
        Random rnd = new Random(seed);
        Map<String, Tensor> tensors = randomTensors(rnd, 1 + rnd.nextInt(5), DType.F32);
        Path file = dir.resolve("h" + files++ + ".safetensors");
        writePlain(file, tensors, Map.of(), bf16 ? DType.BF16 : DType.F16);
        try (SafetensorsFile f = Safetensors.open(file)) {
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                assertEquals(bf16 ? SafetensorsDType.BF16 : SafetensorsDType.F16, f.entry(e.getKey()).dtype());
                float[] original = e.getValue().toFloatArray();
                ByteBuffer stored = f.bytes(e.getKey()).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                try (Tensor back = f.tensor(e.getKey())) {
                    assertEquals(DType.F32, back.dtype(), "half floats load widened to f32");
                    for (int i = 0; i < original.length; i++) {
                        short expected = bf16 ? referenceBF16(original[i]) : Float.floatToFloat16(original[i]);
                        short got = stored.getShort(2 * i);
                        assertEquals(expected, got, e.getKey() + "[" + i + "] = " + original[i]);
                        float widened = bf16 ? Float.intBitsToFloat((expected & 0xFFFF) << 16) : Float.float16ToFloat(expected);
                        assertEquals(Float.floatToIntBits(widened), Float.floatToIntBits(back.get(i)), e.getKey() + "[" + i + "] widened");
                    }
                }
            }
        }
        tensors.values().forEach(Tensor::close);
    }

    @Test
    void integerTensorsAndStoredHalfTensorsKeepTheirType() throws IOException {
        try (Tensor ids = Tensor.zeros(DType.I32, 3); Tensor bytes = Tensor.zeros(DType.I8, 5)) {
            ids.segment().setAtIndex(ValueLayout.JAVA_INT, 0, -7);
            ids.segment().setAtIndex(ValueLayout.JAVA_INT, 2, Integer.MAX_VALUE);
            bytes.segment().set(ValueLayout.JAVA_BYTE, 4, (byte) -128);
            Path file = dir.resolve("ints.safetensors");
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("ids", ids);
            m.put("bytes", bytes);
            Safetensors.write(file, m, Map.of());
            try (SafetensorsFile f = Safetensors.open(file); Tensor i = f.tensor("ids"); Tensor b = f.tensor("bytes")) {
                assertEquals(DType.I32, i.dtype());
                assertArrayEquals(new int[]{-7, 0, Integer.MAX_VALUE}, i.segment().toArray(ValueLayout.JAVA_INT));
                assertEquals(DType.I8, b.dtype());
                assertEquals(-128, b.segment().get(ValueLayout.JAVA_BYTE, 4));
            }
        }
    }

    /** A foreign writer that does not pad its header: f32 data at an odd offset is copied, not viewed. */
    @Test
    void unalignedDataIsCopiedNotViewed() throws IOException {
        byte[] header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue((8 + header.length) % 4 != 0, "the test needs an unaligned data start");
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).putFloat(1.5f).putFloat(-2.25f);
        Path file = dir.resolve("unaligned.safetensors");
        Files.write(file, b.array());
        try (SafetensorsFile f = Safetensors.open(file); Tensor w = f.tensor("w")) {
            assertArrayEquals(new float[]{1.5f, -2.25f}, w.toFloatArray());
            assertEquals(8, w.storage().byteSize(), "an owned copy of the 8 bytes");
        }
    }

    /** The header is padded so the data section starts 8-byte aligned, as Python's writer does. */
    @Test
    void dataStartsAligned() throws IOException {
        for (int nameLength = 1; nameLength < 12; nameLength++)
            try (Tensor t = Tensor.of(new float[]{1, 2, 3}, 3)) {
                Path file = dir.resolve("a" + nameLength + ".safetensors");
                Safetensors.write(file, Map.of("x".repeat(nameLength), t), Map.of());
                byte[] all = Files.readAllBytes(file);
                long headerSize = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                assertEquals(0, (8 + headerSize) % 8, "data offset for a name of " + nameLength);
                assertEquals('{', all[8], "the header is a JSON object");
                assertEquals(8 + headerSize + 12, all.length, "no bytes beyond the last tensor");
            }
    }

    @Property(tries = 2000)
    void bf16RoundingMatchesTheReference(@ForAll float f) {
        assertEquals(referenceBF16(f), HalfFloats.toBF16(f), "bf16 of " + f);
    }

    @Property(tries = 2000)
    void halfFloatsOfRepresentableValuesRoundTripExactly(@ForAll short bits) {
        float f16 = HalfFloats.fromF16(bits);
        if (!Float.isNaN(f16)) assertEquals(bits, HalfFloats.toF16(f16), "f16 bits " + bits);
        float b16 = HalfFloats.fromBF16(bits);
        if (!Float.isNaN(b16)) assertEquals(bits, HalfFloats.toBF16(b16), "bf16 bits " + bits);
        else assertTrue(Float.isNaN(HalfFloats.fromBF16(HalfFloats.toBF16(b16))), "NaN stays NaN");
    }

    /** Round to the nearer of the two bf16 neighbours in double arithmetic, ties to the even one. */
    static short referenceBF16(float f) {
        if (Float.isNaN(f)) return (short) ((Float.floatToRawIntBits(f) >>> 16) | 0x0040);
        int bits = Float.floatToRawIntBits(f);
        int down = bits & 0xFFFF0000;
        if (down == bits) return (short) (bits >>> 16);
        int up = down + 0x10000;
        double lo = Float.intBitsToFloat(down), hi = Float.intBitsToFloat(up);
        if (Float.isInfinite(Float.intBitsToFloat(up)) && !Float.isInfinite(f)) hi = Math.copySign(0x1.0p128, f);
        double dLo = Math.abs(f - lo), dHi = Math.abs(hi - f);
        int chosen = dLo < dHi ? down : dHi < dLo ? up : (((down >>> 16) & 1) == 0 ? down : up);
        return (short) (chosen >>> 16);
    }

    /** Streams a file without the fsyncs of the atomic path (which cost tens of ms each on a busy disk). */
    static void writePlain(Path file, Map<String, Tensor> tensors, Map<String, String> meta, DType floats) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            Safetensors.write(ch, tensors, meta, floats);
        }
    }

    static Map<String, Tensor> randomTensors(Random rnd, int count, DType dtype) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        while (out.size() < count) {
            int rank = rnd.nextInt(5);
            int[] shape = new int[rank];
            for (int i = 0; i < rank; i++) shape[i] = rnd.nextInt(10) == 0 ? 0 : 1 + rnd.nextInt(rank <= 2 ? 70 : 9);
            String name = randomName(rnd);
            if (out.containsKey(name)) continue;
            Tensor t = Tensor.zeros(dtype, shape);
            for (long i = 0; i < t.size(); i++) t.set(i, randomFloat(rnd));
            out.put(name, t);
        }
        return out;
    }

    private static String randomName(Random rnd) {
        String[] parts = {"model", "layers", "0", "self_attn", "q_proj", "weight", "ü", "ß", "\"", "\\", "x y", "七"};
        List<String> name = new ArrayList<>();
        for (int i = 0, n = 1 + rnd.nextInt(5); i < n; i++) name.add(parts[rnd.nextInt(parts.length)]);
        return String.join(".", name);
    }

    /** Ordinary values mostly, and the values that break careless converters. */
    static float randomFloat(Random rnd) {
        return switch (rnd.nextInt(12)) {
            case 0 -> Float.intBitsToFloat(rnd.nextInt());                 // any bit pattern, NaNs included
            case 1 -> rnd.nextBoolean() ? Float.MIN_VALUE : -0f;
            case 2 -> rnd.nextBoolean() ? Float.POSITIVE_INFINITY : 65520f; // 65520 overflows f16
            default -> (float) rnd.nextGaussian() * (float) Math.pow(10, rnd.nextInt(9) - 4);
        };
    }

    static int[] bits(Tensor t) {
        return t.segment().toArray(ValueLayout.JAVA_INT);
    }
}
