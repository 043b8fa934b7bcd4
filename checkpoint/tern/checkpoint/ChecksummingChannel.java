package tern.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.zip.CRC32;

/** Passes bytes through to a channel while counting them and updating a CRC32 (a checkpoint's manifest). */
final class ChecksummingChannel implements WritableByteChannel {
    private final WritableByteChannel out;
    private final CRC32 crc = new CRC32();
    private long bytes;

    ChecksummingChannel(WritableByteChannel out) { this.out = out; }

    @Override
    public int write(ByteBuffer src) throws IOException {
        ByteBuffer view = src.duplicate();
        int n = out.write(src);
        view.limit(view.position() + n);
        crc.update(view);
        bytes += n;
        return n;
    }

    long bytes() { return bytes; }

    long crc32() { return crc.getValue(); }

    @Override public boolean isOpen() { return out.isOpen(); }

    @Override public void close() throws IOException { out.close(); }
}
