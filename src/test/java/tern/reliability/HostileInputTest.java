package tern.reliability;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Safetensors;
import tern.model.TokenizerFiles;
import tern.train.TokenShard;

/**
 * Hand-made hostile inputs the random fuzzer reaches only rarely: sizes and ids that would make a parser
 * allocate gigabytes, or overflow, if it trusted them. Each must be refused with a clear error naming the
 * file, allocating little.
 */
class HostileInputTest {
    private static final long ALLOCATION_LIMIT = 4 << 20;

    @TempDir Path tmp;

    private static void assertRefusedCheaply(Path file, FuzzTarget.Parser parser) {
        FuzzTarget.Outcome o = FuzzTarget.parseMeasured(parser, file);
        assertTrue(o.error() != null, file + " was accepted");
        assertNull(FuzzTarget.bug(o.error(), file), file + " refused with " + o.error());
        assertTrue(o.allocated() < ALLOCATION_LIMIT, "allocated " + o.allocated() + " bytes refusing " + file);
    }

    @Test
    void aTokenizerIdOfTwoBillionIsRefusedWithoutAllocatingAVocabularyArray() throws Exception {
        Path f = tmp.resolve("tokenizer.json");
        Files.writeString(f, """
                {"model": {"type": "BPE", "vocab": {"a": 0, "b": 2000000000}, "merges": []},
                 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}}""");
        assertRefusedCheaply(f, TokenizerFiles::load);
    }

    @Test
    void aSafetensorsShapeThatOverflowsIsRefused() throws Exception {
        Path f = tmp.resolve("big.safetensors");
        byte[] header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,8],\"data_offsets\":[0,8]}}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        Files.write(f, b.array());
        assertRefusedCheaply(f, file -> Safetensors.open(file).close());
    }

    @Test
    void aSafetensorsHeaderSizeNearLongMaxIsRefused() throws Exception {
        Path f = tmp.resolve("size.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE - 3).putLong(0);
        Files.write(f, b.array());
        assertRefusedCheaply(f, file -> Safetensors.open(file).close());
    }

    @Test
    void aTokenShardCountingMoreTokensThanItHoldsIsRefused() throws Exception {
        Path f = tmp.resolve("train-00000.tok");
        ByteBuffer b = ByteBuffer.allocate(64 + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.put("TERNTOKS".getBytes(StandardCharsets.US_ASCII)).putInt(1).putInt(320).putInt(2).putInt(0).putLong(Long.MAX_VALUE / 2);
        Files.write(f, b.array());
        assertRefusedCheaply(f, file -> TokenShard.open(file).close());
    }

    @Test
    void aConfigOfABillionTokenVocabularyIsRefusedBeforeTheModelIsAllocated() throws Exception {
        // 10^9 × hidden × 2 matrices would be 128 GB off the heap: the JVM used to die allocating it
        Path folder = tern.testing.TinyCheckpoints.modelFolder(tmp.resolve("model"), tern.testing.TinyCheckpoints.SHAPE, w -> {},
                c -> c.replace("\"vocab_size\": 300", "\"vocab_size\": 1000000000"));
        assertRefusedCheaply(folder.resolve("config.json"), file -> tern.train.TrainCheckpoint.loadModel(file.getParent(), new tern.simd.CpuBackend()).close());
    }

    @Test
    void aSafetensorsHeaderWithATensorTwiceIsRefused() throws Exception {
        Path f = tmp.resolve("twice.safetensors");
        byte[] header = ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        Files.write(f, b.array());
        assertRefusedCheaply(f, file -> Safetensors.open(file).close());
    }
}
