package tern.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.zip.CRC32;

/**
 * A token shard memory-mapped read-only (layout in {@link TokenShardFormat}) and fully validated when
 * opened: magic, version, token width, header count against the file length, the payload's CRC32,
 * and every token id below the vocabulary size. The id check is one linear scan at open (cheap next
 * to the CRC that reads the same bytes), so batches never need checking. Mapped in a shared arena:
 * samplers may read from any thread; {@link #close} unmaps.
 */
public final class TokenShard implements AutoCloseable {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final Arena arena;
    private final MemorySegment payload;
    private final int vocabSize;
    private final int width;
    private final long count;
    private final long storedCrc;

    private TokenShard(Path file, Arena arena, MemorySegment payload, int vocabSize, int width, long count, long storedCrc) {
        this.storedCrc = storedCrc;
        this.file = file;
        this.arena = arena;
        this.payload = payload;
        this.vocabSize = vocabSize;
        this.width = width;
        this.count = count;
    }

    /** Maps and validates {@code file}; throws {@link DataException} naming the file and the problem. */
    public static TokenShard open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            TokenShard shard = map(file, arena);
            shard.validatePayload();
            return shard;
        } catch (RuntimeException | IOException e) {
            arena.close();
            throw e;
        }
    }

    private static TokenShard map(Path file, Arena arena) throws IOException {
        MemorySegment all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < TokenShardFormat.HEADER_BYTES)
                throw new DataException(file, "file of " + size + " bytes is shorter than the " + TokenShardFormat.HEADER_BYTES + "-byte header");
            all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        byte[] magic = all.asSlice(0, 8).toArray(ValueLayout.JAVA_BYTE);
        if (!Arrays.equals(magic, TokenShardFormat.MAGIC))
            throw new DataException(file, "bad magic " + printable(magic) + ", not a Tern token shard (expected TERNTOKS)");
        int version = all.get(U32, TokenShardFormat.OFF_VERSION);
        if (version != TokenShardFormat.VERSION)
            throw new DataException(file, "unsupported shard version " + version + " (this build reads version " + TokenShardFormat.VERSION + ")");
        int vocab = all.get(U32, TokenShardFormat.OFF_VOCAB);
        int width = all.get(U32, TokenShardFormat.OFF_WIDTH);
        long count = all.get(U64, TokenShardFormat.OFF_COUNT);
        if (vocab <= 0) throw new DataException(file, "header vocabulary size " + vocab + " is not positive");
        if (width != TokenShardFormat.bytesPerToken(vocab))
            throw new DataException(file, "header says " + width + " bytes per token, but a vocabulary of " + vocab
                    + " is stored with " + TokenShardFormat.bytesPerToken(vocab));
        long payloadBytes = all.byteSize() - TokenShardFormat.HEADER_BYTES;
        if (count < 0 || count > payloadBytes / width || count * width != payloadBytes)
            throw new DataException(file, "header counts " + count + " tokens of " + width + " bytes, but the file holds "
                    + payloadBytes + " payload bytes (truncated or padded?)");
        long crc = all.get(U32, TokenShardFormat.OFF_CRC) & 0xFFFFFFFFL;
        return new TokenShard(file, arena, all.asSlice(TokenShardFormat.HEADER_BYTES, payloadBytes), vocab, width, count, crc);
    }

    private void validatePayload() {
        long stored = storedCrc;
        CRC32 crc = new CRC32();
        long chunk = 1L << 30; // ByteBuffer views are int-indexed
        for (long off = 0; off < payload.byteSize(); off += chunk)
            crc.update(payload.asSlice(off, Math.min(chunk, payload.byteSize() - off)).asByteBuffer());
        if (crc.getValue() != stored)
            throw new DataException(file, String.format("payload checksum mismatch: header CRC32 %08x, payload %08x (corrupt file)",
                    stored, crc.getValue()));
        for (long i = 0; i < count; i++) {
            int id = get(i);
            if (id < 0 || id >= vocabSize)
                throw new DataException(file, "token " + i + " has id " + Integer.toUnsignedString(id)
                        + ", not below the vocabulary size " + vocabSize);
        }
    }

    private static String printable(byte[] bytes) {
        StringBuilder sb = new StringBuilder("\"");
        for (byte b : bytes) sb.append(b >= 0x20 && b < 0x7F ? String.valueOf((char) b) : String.format("\\x%02x", b & 0xFF));
        return sb.append('"').toString();
    }

    public Path file() { return file; }
    public int vocabSize() { return vocabSize; }
    public long tokenCount() { return count; }

    /** Token {@code i} (0 ≤ i &lt; tokenCount). */
    public int get(long i) {
        return width == 2 ? Short.toUnsignedInt(payload.getAtIndex(U16, i)) : payload.getAtIndex(U32, i);
    }

    /** Copies tokens {@code [from, from + len)} into {@code dst[off..]}. */
    public void copy(long from, int[] dst, int off, int len) {
        if (from < 0 || len < 0 || from + len > count)
            throw new IndexOutOfBoundsException(file + ": tokens [" + from + ", " + (from + len) + ") of " + count);
        if (width == 4) {
            MemorySegment.copy(payload, U32, from * 4, dst, off, len);
        } else {
            for (int k = 0; k < len; k++) dst[off + k] = Short.toUnsignedInt(payload.getAtIndex(U16, from + k));
        }
    }

    @Override
    public void close() { arena.close(); }

    @Override
    public String toString() { return file + " (" + count + " tokens, vocabulary " + vocabSize + ")"; }
}
