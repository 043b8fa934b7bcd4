package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenShardTest {
    @TempDir Path dir;

    static int[] randomTokens(long seed, int n, int vocab) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    static Path write(Path file, int vocab, int[] tokens) throws IOException {
        try (TokenShardWriter w = new TokenShardWriter(file, vocab)) {
            for (int t : tokens) w.accept(t);
        }
        return file;
    }

    /** Both widths: uint16 up to 65,536 ids, uint32 above; sizes cross the writer's 1 MB buffer. */
    @Property(tries = 25) // each try writes, maps and checks a file of up to 2 MB
    void writtenTokensReadBackEqual(@ForAll @IntRange(min = 1, max = 200_000) int vocab,
                                    @ForAll @IntRange(min = 0, max = 600_000) int n,
                                    @ForAll long seed) throws IOException {
        int[] tokens = randomTokens(seed, n, vocab);
        Path file = Files.createTempFile("tern-shard", ".tok"); // jqwik properties get no JUnit @TempDir
        try (TokenShard s = TokenShard.open(write(file, vocab, tokens))) {
            assertEquals(64 + (long) n * (vocab <= 65_536 ? 2 : 4), Files.size(file));
            assertEquals(n, s.tokenCount());
            assertEquals(vocab, s.vocabSize());
            int[] back = new int[n];
            s.copy(0, back, 0, n);
            assertArrayEquals(tokens, back);
            if (n > 0) assertEquals(tokens[n - 1], s.get(n - 1));
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    void boundaryIdsSurviveBothWidths() throws IOException {
        for (int vocab : new int[] {65_536, 65_537}) {
            int[] tokens = {0, 1, vocab - 1, 65_535 % vocab, vocab / 2};
            try (TokenShard s = TokenShard.open(write(dir.resolve("b" + vocab + ".tok"), vocab, tokens))) {
                int[] back = new int[tokens.length];
                s.copy(0, back, 0, tokens.length);
                assertArrayEquals(tokens, back);
            }
        }
    }

    private Path good(String name) throws IOException {
        return write(dir.resolve(name), 1000, randomTokens(3, 5000, 1000));
    }

    private static void patch(Path file, long offset, byte[] bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            f.write(bytes);
        }
    }

    private static void assertRejected(Path file, String problem) {
        DataException e = assertThrows(DataException.class, () -> TokenShard.open(file).close());
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(problem), "says '" + problem + "': " + e.getMessage());
    }

    @Test
    void truncatedFileIsRejected() throws IOException {
        Path f = good("truncated.tok");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) { raf.setLength(raf.length() - 3); }
        assertRejected(f, "truncated");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) { raf.setLength(10); }
        assertRejected(f, "shorter than the 64-byte header");
    }

    @Test
    void flippedPayloadByteIsRejected() throws IOException {
        Path f = good("flipped.tok");
        byte[] all = Files.readAllBytes(f);
        patch(f, 64 + 1234, new byte[] {(byte) (all[64 + 1234] ^ 0x10)});
        assertRejected(f, "checksum mismatch");
    }

    @Test
    void badMagicAndVersionAreRejected() throws IOException {
        Path f = good("magic.tok");
        patch(f, 0, "GGUF".getBytes());
        assertRejected(f, "bad magic \"GGUFTOKS\"");
        Path v = good("version.tok");
        patch(v, 8, new byte[] {9, 0, 0, 0});
        assertRejected(v, "unsupported shard version 9");
    }

    @Test
    void headerCountThatDisagreesWithTheLengthIsRejected() throws IOException {
        Path f = good("count.tok");
        patch(f, 24, new byte[] {(byte) 0x89, 0x13, 0, 0, 0, 0, 0, 0}); // 5001 tokens claimed, 5000 present
        assertRejected(f, "header counts 5001 tokens");
        Path w = good("width.tok");
        patch(w, 16, new byte[] {4, 0, 0, 0});
        assertRejected(w, "4 bytes per token");
    }

    /** The header is not under the checksum, so a smaller vocabulary there leaves valid CRC but bad ids. */
    @Test
    void tokenIdAtOrAboveTheVocabularyIsRejected() throws IOException {
        int[] tokens = randomTokens(5, 3000, 500);
        tokens[2047] = 700;
        Path f = write(dir.resolve("ids.tok"), 1000, tokens);
        patch(f, 12, new byte[] {(byte) 0xF4, 0x01, 0, 0}); // vocabulary 500
        assertRejected(f, "token 2047 has id 700, not below the vocabulary size 500");
    }

    @Test
    void writerRefusesIdsOutsideTheVocabularyAndLeavesNoFile() throws IOException {
        Path f = dir.resolve("refused.tok");
        TokenShardWriter w = new TokenShardWriter(f, 10);
        w.accept(9);
        assertThrows(IllegalArgumentException.class, () -> w.accept(10));
        assertThrows(IllegalArgumentException.class, () -> w.accept(-1));
        assertTrue(!Files.exists(f), "nothing is renamed into place before close");
        w.close();
        try (TokenShard s = TokenShard.open(f)) { assertEquals(1, s.tokenCount()); }
    }

    @Test
    void shardSetRefusesMixedVocabulariesAndMissingTrainingShards() throws IOException {
        Path set = java.nio.file.Files.createDirectories(dir.resolve("set"));
        DataException e = assertThrows(DataException.class, () -> TokenShardSet.open(set));
        assertTrue(e.getMessage().contains("no training shards"), e.getMessage());
        write(set.resolve("train-00000.tok"), 1000, randomTokens(1, 100, 1000));
        write(set.resolve("val-00000.tok"), 2000, randomTokens(2, 100, 2000));
        e = assertThrows(DataException.class, () -> TokenShardSet.open(set));
        assertTrue(e.getMessage().contains("val-00000.tok") && e.getMessage().contains("vocabulary size 2000 differs from 1000"), e.getMessage());
        write(set.resolve("val-00000.tok"), 1000, randomTokens(2, 100, 1000));
        try (TokenShardSet ok = TokenShardSet.open(set)) {
            assertEquals(List.of(100L, 100L), List.of(ok.trainTokens(), ok.valTokens()));
        }
    }
}
