package tern.train;

import java.nio.charset.StandardCharsets;

/**
 * The token shard file layout, little-endian throughout:
 * <pre>
 * offset size
 *   0     8   magic "TERNTOKS"
 *   8     4   version (1)
 *  12     4   vocabulary size: every token id is below it
 *  16     4   bytes per token: 2 (uint16) when the vocabulary has at most 65,536 ids, else 4 (uint32)
 *  20     4   reserved, 0
 *  24     8   token count
 *  32     4   CRC32 of the payload
 *  36    28   reserved, 0
 *  64         payload: token count × bytes per token
 * </pre>
 */
final class TokenShardFormat {
    static final byte[] MAGIC = "TERNTOKS".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int HEADER_BYTES = 64;
    static final int OFF_VERSION = 8, OFF_VOCAB = 12, OFF_WIDTH = 16, OFF_COUNT = 24, OFF_CRC = 32;

    private TokenShardFormat() {}

    /** The token width a vocabulary needs: uint16 holds ids 0..65535. */
    static int bytesPerToken(int vocabSize) { return vocabSize <= 65_536 ? 2 : 4; }
}
