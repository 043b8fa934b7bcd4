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

    /** A GGUF header: magic, version 3, then the counts given (each u64). */
    private static ByteBuffer ggufHeader(int capacity, long tensors, long kvs) {
        return ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN).putInt(0x46554747).putInt(3).putLong(tensors).putLong(kvs);
    }

    private static void gguf(Path f, ByteBuffer b) throws Exception {
        Files.write(f, java.util.Arrays.copyOf(b.array(), b.position()));
        assertRefusedCheaply(f, file -> tern.train.GgufImport.load(file, new tern.simd.CpuBackend()).model().close());
    }

    @Test
    void ggufCountsAndLengthsBeyondTheFileAreRefusedWithoutAllocating() throws Exception {
        gguf(tmp.resolve("tensors.gguf"), ggufHeader(64, 1L << 40, 0));                          // 2^40 tensors
        gguf(tmp.resolve("kvs.gguf"), ggufHeader(64, 0, Long.MAX_VALUE));                        // 2^63 keys
        gguf(tmp.resolve("key.gguf"), ggufHeader(64, 0, 1).putLong(Long.MAX_VALUE - 7));         // a key 2^63 bytes long
        ByteBuffer array = ggufHeader(64, 0, 1).putLong(1).put((byte) 'a').putInt(9).putInt(8).putLong(1L << 40);
        gguf(tmp.resolve("array.gguf"), array);                                                  // 2^40 strings in an array
        ByteBuffer dims = ggufHeader(96, 1, 0).putLong(1).put((byte) 't').putInt(4);
        for (int i = 0; i < 4; i++) dims.putLong(Integer.MAX_VALUE);                             // 2^124 elements
        gguf(tmp.resolve("dims.gguf"), dims.putInt(0).putLong(0));
    }

    @Test
    void aGgufClaimingMillionsOfBlocksIsRefusedBeforeItsNameTableIsBuilt() throws Exception {
        ByteBuffer b = ggufHeader(512, 0, 8);
        String[][] u32 = {{"llama.block_count", "16777216"}, {"llama.embedding_length", "256"}, {"llama.feed_forward_length", "256"},
                {"llama.attention.head_count", "2"}, {"llama.context_length", "32"}};
        byte[] arch = "general.architecture".getBytes(StandardCharsets.UTF_8), llama = "llama".getBytes(StandardCharsets.UTF_8);
        b.putLong(arch.length).put(arch).putInt(8).putLong(llama.length).put(llama);
        for (String[] kv : u32) {
            byte[] k = kv[0].getBytes(StandardCharsets.UTF_8);
            b.putLong(k.length).put(k).putInt(4).putInt(Integer.parseInt(kv[1]));
        }
        byte[] eps = "llama.attention.layer_norm_rms_epsilon".getBytes(StandardCharsets.UTF_8);
        b.putLong(eps.length).put(eps).putInt(6).putFloat(1e-5f);
        byte[] model = "tokenizer.ggml.model".getBytes(StandardCharsets.UTF_8), gpt2 = "gpt2".getBytes(StandardCharsets.UTF_8);
        b.putLong(model.length).put(model).putInt(8).putLong(gpt2.length).put(gpt2);
        gguf(tmp.resolve("blocks.gguf"), b);
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
