package tern.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * The TCP rendezvous of several hosts, on loopback: rank 0 hands NCCL's 128-byte unique id to every rank;
 * a rank of another job is refused (and the job still forms), a bad address is a clear error, a rank that
 * finds nobody gives up in time, and a peer that dies fails the others' next collective at once.
 */
class TcpGroupTest {
    private static InetSocketAddress master(int port) { return new InetSocketAddress("127.0.0.1", port); }

    private static final java.util.concurrent.ExecutorService THREADS = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "tcp-group-test");
        t.setDaemon(true);
        return t;
    });

    private static CompletableFuture<TcpGroup> joinLater(int port, int rank, int ranks, String job) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return TcpGroup.join(master(port), rank, ranks, job, 20_000);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, THREADS);
    }

    @Test
    void rankZeroHandsTheUniqueIdToEveryRankAndAStrangerIsRefused() throws Exception {
        int port = RankLauncherPorts.free();
        byte[] id = new byte[RendezvousFile.ID_BYTES];
        new Random(3).nextBytes(id);
        // the stranger and rank 1 come first; rank 2 only once the stranger was refused, so the group is
        // still forming when the stranger knocks
        CompletableFuture<TcpGroup> stranger = joinLater(port, 1, 3, "job-b"), r1 = joinLater(port, 1, 3, "job-a");
        CompletableFuture<TcpGroup> zeroJoins = joinLater(port, 0, 3, "job-a");
        Exception e = assertThrows(Exception.class, () -> stranger.get(20, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("another job (job-b)"), e.getCause().getMessage());
        CompletableFuture<TcpGroup> r2 = joinLater(port, 2, 3, "job-a");
        try (TcpGroup zero = zeroJoins.get(20, TimeUnit.SECONDS);
             TcpGroup one = r1.get(20, TimeUnit.SECONDS); TcpGroup two = r2.get(20, TimeUnit.SECONDS)) {
            CompletableFuture<byte[]> got1 = CompletableFuture.supplyAsync(() -> one.broadcast(null), THREADS);
            CompletableFuture<byte[]> got2 = CompletableFuture.supplyAsync(() -> two.broadcast(null), THREADS);
            assertArrayEquals(id, zero.broadcast(id));
            assertArrayEquals(id, got1.get(10, TimeUnit.SECONDS));
            assertArrayEquals(id, got2.get(10, TimeUnit.SECONDS));
        }
    }

    /**
     * A world of 6 ranks split as a tensor-parallel job of 3 × 2 splits it: groups of the same color, ranked by
     * key (here the reverse of the world order, so the key decides, not the rank), each summing only its own
     * ranks' values on sockets of its own; a second split of the same world (the data-parallel groups) is
     * another set of groups, and a group of one rank sums alone.
     */
    @Test
    void aSplitFormsGroupsByColorRankedByKey() throws Exception {
        int port = RankLauncherPorts.free(), n = 6;
        List<CompletableFuture<TcpGroup>> joins = new java.util.ArrayList<>();
        for (int r = 0; r < n; r++) joins.add(joinLater(port, r, n, "job-s"));
        List<CompletableFuture<float[]>> results = new java.util.ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            results.add(joins.get(r).thenApplyAsync(world -> {
                try (world) {
                    // color r / 2, key reversed within the pair: rank 2c+1 becomes rank 0 of group c
                    try (TcpGroup pair = world.split(rank / 2, -rank, "tp", 20_000);
                         TcpGroup column = world.split(rank % 2, rank, "dp", 20_000);
                         TcpGroup alone = world.split(rank, 0, "solo", 20_000)) {
                        float pairSum = pair.sum(new float[][] {{rank + 1}}, TcpGroup.Wanted.ALL)[0][0];
                        float columnSum = column.sum(new float[][] {{rank + 1}}, TcpGroup.Wanted.ALL)[0][0];
                        float aloneSum = alone.sum(new float[][] {{rank + 1}}, TcpGroup.Wanted.ALL)[0][0];
                        return new float[] {pair.rank(), pair.ranks(), pairSum, column.rank(), column.ranks(), columnSum, alone.ranks(), aloneSum};
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, THREADS));
        }
        for (int r = 0; r < n; r++) {
            float[] got = results.get(r).get(30, TimeUnit.SECONDS);
            int pairFirst = r / 2 * 2;
            float[] want = {1 - r % 2, 2, (pairFirst + 1) + (pairFirst + 2), r / 2, 3, 3 * (r % 2 + 1) + 6, 1, r + 1};
            assertArrayEquals(want, got, "rank " + r + ": [pair rank, ranks, sum, column rank, ranks, sum, alone ranks, sum]");
        }
    }

    @Test
    void aDeadPeerFailsTheNextCollectiveAtOnce() throws Exception {
        int port = RankLauncherPorts.free();
        CompletableFuture<TcpGroup> r1 = joinLater(port, 1, 2, "job");
        try (TcpGroup zero = TcpGroup.join(master(port), 0, 2, "job", 20_000)) {
            r1.get(20, TimeUnit.SECONDS).close();                           // rank 1 goes away
            long t = System.nanoTime();
            UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> zero.sum(new float[][] {{1f}}, TcpGroup.Wanted.ALL));
            assertTrue((System.nanoTime() - t) / 1e9 < 5, "failed after " + (System.nanoTime() - t) / 1e9 + " s");
            assertTrue(e.getMessage().contains("lost the connection"), e.getMessage());
        }
    }

    @Test
    void badAddressesAndAnAbsentRankZeroAreClearErrors() throws Exception {
        for (String bad : List.of("host", "host:", ":80", "host:x", "host:70000"))
            assertThrows(IllegalArgumentException.class, () -> TcpGroup.parseAddress(bad), bad);
        int port = RankLauncherPorts.free();
        IOException e = assertThrows(IOException.class, () -> TcpGroup.join(master(port), 1, 2, "job", 500));
        assertTrue(e.getMessage().contains("could not reach rank 0"), e.getMessage());
    }
}
