package tern.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.IntConsumer;
import java.util.zip.CRC32;

/**
 * Writes one token shard by streaming: tokens go through a buffer to {@code name.tmp}, the CRC32 is
 * computed on the way, and {@link #close} writes the header, forces the file to disk and renames it into
 * place, so a shard that exists is always complete.
 */
public final class TokenShardWriter implements IntConsumer, AutoCloseable {
    private static final int BUFFER_BYTES = 1 << 20;

    private final Path file;
    private final Path tmp;
    private final int vocabSize;
    private final int width;
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final CRC32 crc = new CRC32();
    private long count;
    private boolean closed;

    public TokenShardWriter(Path file, int vocabSize) throws IOException {
        if (vocabSize <= 0) throw new IllegalArgumentException("vocabulary size must be positive, got " + vocabSize);
        this.file = file;
        this.tmp = file.resolveSibling(file.getFileName() + ".tmp");
        this.vocabSize = vocabSize;
        this.width = TokenShardFormat.bytesPerToken(vocabSize);
        this.channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        channel.position(TokenShardFormat.HEADER_BYTES);
    }

    /** Appends one token id; ids outside the vocabulary are refused here rather than found at read time. */
    @Override
    public void accept(int token) {
        if (token < 0 || token >= vocabSize)
            throw new IllegalArgumentException(file + ": token id " + token + " is outside the vocabulary of " + vocabSize);
        if (buffer.remaining() < width) flush();
        if (width == 2) buffer.putShort((short) token);
        else buffer.putInt(token);
        count++;
    }

    public long count() { return count; }

    public Path file() { return file; }

    private void flush() {
        buffer.flip();
        ByteBuffer forCrc = buffer.duplicate();
        crc.update(forCrc);
        try {
            while (buffer.hasRemaining()) channel.write(buffer);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(tmp + ": write failed", e);
        }
        buffer.clear();
    }

    @Override
    public void close() throws IOException {
        if (closed) return;
        closed = true;
        try (channel) {
            flush();
            ByteBuffer header = ByteBuffer.allocate(TokenShardFormat.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            header.put(TokenShardFormat.MAGIC);
            header.putInt(TokenShardFormat.OFF_VERSION, TokenShardFormat.VERSION);
            header.putInt(TokenShardFormat.OFF_VOCAB, vocabSize);
            header.putInt(TokenShardFormat.OFF_WIDTH, width);
            header.putLong(TokenShardFormat.OFF_COUNT, count);
            header.putInt(TokenShardFormat.OFF_CRC, (int) crc.getValue());
            header.position(0);
            channel.position(0);
            while (header.hasRemaining()) channel.write(header);
            channel.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
