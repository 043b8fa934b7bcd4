package tern.train;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The ranks of a job joined over TCP, as a star around rank 0: rank 0 listens on the master address
 * ({@code --master HOST:PORT}), the others connect and introduce themselves (job tag, rank, number of ranks;
 * a connection of another job, a duplicate rank or a wrong count is refused with the reason). It serves two
 * purposes:
 * <ul>
 *   <li>the rendezvous of several hosts: rank 0 {@link #broadcast}s NCCL's unique id (a file in the run
 *       folder serves one host, {@link RendezvousFile});</li>
 *   <li>the collectives of CPU ranks ({@link TcpGradientSync}): rank 0 receives every rank's values, sums
 *       them in rank order and sends each rank what it needs, so a result never depends on arrival order.</li>
 * </ul>
 * It is built for correctness and failure handling, not bandwidth: all data passes through rank 0. A peer
 * that dies closes its connection, and the ranks waiting on it get an {@link UncheckedIOException} at once.
 */
public final class TcpGroup implements AutoCloseable {
    private static final int MAGIC = 0x5445524E;        // "TERN"
    private static final int OK = 0, REFUSED = 1;

    private final int rank, ranks;
    private final ServerSocket server;                   // rank 0 only
    private final Socket[] sockets;                      // rank 0: one per other rank; others: [0] to rank 0
    private final DataInputStream[] in;
    private final DataOutputStream[] out;
    private final String job;                            // the tag every rank introduced itself with
    private final boolean loopback;                      // every rank is on this host (the master is a loopback address)
    private final String reachableHost;                  // how the other ranks reach this process (for a sub-group it leads)

    private TcpGroup(int rank, int ranks, ServerSocket server, Socket[] sockets, String job, boolean loopback, String reachableHost) throws IOException {
        this.rank = rank;
        this.ranks = ranks;
        this.server = server;
        this.sockets = sockets;
        this.job = job;
        this.loopback = loopback;
        this.reachableHost = reachableHost;
        in = new DataInputStream[sockets.length];
        out = new DataOutputStream[sockets.length];
        for (int i = 0; i < sockets.length; i++) {
            if (sockets[i] == null) continue;
            sockets[i].setTcpNoDelay(true);
            in[i] = new DataInputStream(new BufferedInputStream(sockets[i].getInputStream(), 1 << 16));
            out[i] = new DataOutputStream(new BufferedOutputStream(sockets[i].getOutputStream(), 1 << 16));
        }
    }

    /** "HOST:PORT" as an address; a clear error for anything else. */
    public static InetSocketAddress parseAddress(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || colon == hostPort.length() - 1)
            throw new IllegalArgumentException("--master must be HOST:PORT, got '" + hostPort + "'");
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--master " + hostPort + ": the port is not a number");
        }
        if (port < 1 || port > 65535) throw new IllegalArgumentException("--master " + hostPort + ": port " + port + " is outside 1..65535");
        return new InetSocketAddress(hostPort.substring(0, colon), port);
    }

    /**
     * Joins the group of {@code ranks} at {@code master}: rank 0 listens there and waits for all the others,
     * the others connect (retrying while rank 0 is not up yet). Gives up after {@code timeoutMillis}.
     */
    public static TcpGroup join(InetSocketAddress master, int rank, int ranks, String job, long timeoutMillis) throws IOException {
        if (ranks < 1 || rank < 0 || rank >= ranks) throw new IllegalArgumentException("rank " + rank + " of " + ranks);
        long deadline = System.currentTimeMillis() + timeoutMillis;
        return rank == 0 ? host(master, ranks, job, deadline) : connect(master, rank, ranks, job, deadline);
    }

    private static TcpGroup host(InetSocketAddress master, int ranks, String job, long deadline) throws IOException {
        ServerSocket server = new ServerSocket();
        server.setReuseAddress(true);
        // a loopback master stays on loopback (one host); another address listens on every interface
        boolean local = master.getAddress() != null && master.getAddress().isLoopbackAddress();
        try {
            server.bind(local ? master : new InetSocketAddress(master.getPort()));
        } catch (IOException e) {
            server.close();
            throw e;
        }
        return host(server, master, ranks, job, deadline, local, master.getHostString());
    }

    /**
     * Rank 0 of a group on a server socket already bound (a sub-group's leader binds a free port, then tells
     * the others where it is): waits for the other ranks' introductions, then closes the server.
     */
    private static TcpGroup host(ServerSocket server, InetSocketAddress master, int ranks, String job, long deadline,
                                 boolean local, String reachableHost) throws IOException {
        Socket[] peers = new Socket[ranks];
        try {
            int joined = 1;
            while (joined < ranks) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) throw new IOException("rendezvous at " + master + ": " + (ranks - joined) + " of " + (ranks - 1)
                        + " ranks did not join in time (missing: " + missing(peers) + ")");
                server.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                s.setSoTimeout(10_000);                     // the introduction comes at once
                DataInputStream din = new DataInputStream(s.getInputStream());
                DataOutputStream dout = new DataOutputStream(s.getOutputStream());
                String why;
                int r = -1;
                try {
                    int magic = din.readInt();
                    String theirJob = din.readUTF();
                    r = din.readInt();
                    int theirRanks = din.readInt();
                    why = magic != MAGIC ? "not a tern rank"
                            : !theirJob.equals(job) ? "another job (" + theirJob + ")"
                            : theirRanks != ranks ? "it counts " + theirRanks + " ranks, this job " + ranks
                            : r < 1 || r >= ranks ? "rank " + r + " is outside 1.." + (ranks - 1)
                            : peers[r] != null ? "rank " + r + " has already joined" : null;
                } catch (IOException e) {
                    why = "no introduction (" + e.getMessage() + ")";
                }
                if (why != null) {
                    try {
                        dout.writeInt(REFUSED);
                        dout.writeUTF(why);
                        dout.flush();
                    } catch (IOException ignored) {
                        // it went away already
                    }
                    s.close();
                    System.err.println("tern: rendezvous at " + master + ": refused a connection from " + s.getRemoteSocketAddress() + ": " + why);
                    continue;
                }
                dout.writeInt(OK);
                dout.flush();
                s.setSoTimeout(0);
                peers[r] = s;
                joined++;
            }
            server.close();                                  // all here: a late stranger is refused by the OS, not left waiting
            return new TcpGroup(0, ranks, null, peers, job, local, reachableHost);
        } catch (IOException | RuntimeException e) {
            for (Socket s : peers) if (s != null) s.close();
            server.close();
            throw e;
        }
    }

    private static String missing(Socket[] peers) {
        List<String> m = new ArrayList<>();
        for (int r = 1; r < peers.length; r++) if (peers[r] == null) m.add(Integer.toString(r));
        return String.join(", ", m);
    }

    private static TcpGroup connect(InetSocketAddress master, int rank, int ranks, String job, long deadline) throws IOException {
        while (true) {
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress(master.getHostString(), master.getPort()), 5_000);
                s.setSoTimeout(10_000);                         // rank 0 answers the introduction at once
                DataOutputStream dout = new DataOutputStream(s.getOutputStream());
                dout.writeInt(MAGIC);
                dout.writeUTF(job);
                dout.writeInt(rank);
                dout.writeInt(ranks);
                dout.flush();
                DataInputStream din = new DataInputStream(s.getInputStream());
                if (din.readInt() != OK) throw new IOException("rendezvous at " + master + ": rank 0 refused rank " + rank + ": " + din.readUTF());
                s.setSoTimeout(0);                              // collectives wait as long as the slowest rank's step
                boolean local = master.getAddress() != null && master.getAddress().isLoopbackAddress();
                return new TcpGroup(rank, ranks, null, new Socket[] {s}, job, local, s.getLocalAddress().getHostAddress());
            } catch (ConnectException | SocketTimeoutException | EOFException notYet) {
                s.close();
                if (System.currentTimeMillis() > deadline)
                    throw new IOException("rendezvous: rank " + rank + " could not reach rank 0 at " + master + " in time (" + notYet.getMessage() + ")");
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while joining " + master, e);
                }
            } catch (IOException e) {
                s.close();
                throw e;
            }
        }
    }

    public int rank() { return rank; }

    public int ranks() { return ranks; }

    /**
     * The groups of a split ({@link TcpGradientSync#split}): the ranks of this group that give the same
     * {@code color} form one new group, ranked by {@code key} (ties by rank here). Every rank of this group
     * calls it. Each new group's first rank listens on a free port of its host and the others connect to
     * it, so the new groups' collectives do not pass through this group's rank 0; their job tag is this
     * group's with {@code tag} and the color appended. A group of one rank needs no socket.
     */
    public TcpGroup split(int color, int key, String tag, long timeoutMillis) throws IOException {
        float[][][] all = allGather(new float[][] {{color, key}});     // small whole numbers: exact as floats
        List<Integer> members = new ArrayList<>();
        for (int r = 0; r < ranks; r++) if ((int) all[r][0][0] == color) members.add(r);
        members.sort((a, b) -> (int) all[a][0][1] != (int) all[b][0][1] ? Integer.compare((int) all[a][0][1], (int) all[b][0][1]) : Integer.compare(a, b));
        int newRank = members.indexOf(rank), newRanks = members.size(), leader = members.get(0);
        String newJob = job + "/" + tag + "-" + color;
        ServerSocket listening = null;
        if (rank == leader && newRanks > 1) {
            listening = new ServerSocket();
            listening.setReuseAddress(true);
            listening.bind(loopback ? new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0) : new InetSocketAddress(0));
        }
        byte[] where = listening == null ? new byte[0]
                : (reachableHost + ":" + listening.getLocalPort()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[][] addresses;
        try {
            addresses = allGatherBytes(where);
        } catch (RuntimeException e) {
            if (listening != null) listening.close();
            throw e;
        }
        long deadline = System.currentTimeMillis() + timeoutMillis;
        if (newRanks == 1) return new TcpGroup(0, 1, null, new Socket[1], newJob, loopback, reachableHost);
        String leaderAt = new String(addresses[leader], java.nio.charset.StandardCharsets.UTF_8);
        if (listening != null) return host(listening, parseAddress(leaderAt), newRanks, newJob, deadline, loopback, reachableHost);
        return connect(parseAddress(leaderAt), newRank, newRanks, newJob, deadline);
    }

    /** Every rank's bytes, in rank order, on every rank. */
    public byte[][] allGatherBytes(byte[] mine) {
        try {
            byte[][] all = new byte[ranks][];
            if (rank == 0) {
                all[0] = mine.clone();
                for (int r = 1; r < ranks; r++) {
                    all[r] = new byte[in[r].readInt()];
                    in[r].readFully(all[r]);
                }
                for (int r = 1; r < ranks; r++) {
                    for (byte[] b : all) {
                        out[r].writeInt(b.length);
                        out[r].write(b);
                    }
                    out[r].flush();
                }
                return all;
            }
            out[0].writeInt(mine.length);
            out[0].write(mine);
            out[0].flush();
            for (int r = 0; r < ranks; r++) {
                all[r] = new byte[in[0].readInt()];
                in[0].readFully(all[r]);
            }
            return all;
        } catch (IOException e) {
            throw lost(e);
        }
    }

    /** Rank 0's bytes on every rank (the others pass null). */
    public byte[] broadcast(byte[] fromRank0) {
        try {
            if (rank == 0) {
                for (int r = 1; r < ranks; r++) {
                    out[r].writeInt(fromRank0.length);
                    out[r].write(fromRank0);
                    out[r].flush();
                }
                return fromRank0.clone();
            }
            byte[] b = new byte[in[0].readInt()];
            in[0].readFully(b);
            return b;
        } catch (IOException e) {
            throw lost(e);
        }
    }

    /** Every rank's arrays, in rank order, on every rank ([rank][array]). */
    public float[][][] allGather(float[][] mine) {
        try {
            float[][][] all = new float[ranks][][];
            if (rank == 0) {
                all[0] = mine;
                for (int r = 1; r < ranks; r++) all[r] = readArrays(in[r]);
                for (int r = 1; r < ranks; r++) {
                    for (float[][] a : all) writeArrays(out[r], a);
                    out[r].flush();
                }
                return all;
            }
            writeArrays(out[0], mine);
            out[0].flush();
            for (int r = 0; r < ranks; r++) all[r] = readArrays(in[0]);
            return all;
        } catch (IOException e) {
            throw lost(e);
        }
    }

    /**
     * Elementwise sums over the ranks, added in rank order (rank 0's values, plus rank 1's, ...). Rank r
     * receives only the parts {@code wanted} names for it: {@code wanted.parts(r, i, length)} lists [from, to)
     * ranges of array i; rank 0 keeps the whole sums.
     */
    public float[][] sum(float[][] mine, Wanted wanted) {
        try {
            if (rank != 0) {
                writeArrays(out[0], mine);
                out[0].flush();
                float[][] got = new float[mine.length][];
                for (int i = 0; i < mine.length; i++) {
                    got[i] = new float[mine[i].length];
                    for (long[] range : wanted.parts(rank, i, mine[i].length)) readInto(in[0], got[i], (int) range[0], (int) range[1]);
                }
                return got;
            }
            float[][] sum = new float[mine.length][];
            for (int i = 0; i < mine.length; i++) sum[i] = mine[i].clone();
            for (int r = 1; r < ranks; r++) {
                float[][] theirs = readArrays(in[r]);
                if (theirs.length != sum.length) throw new IOException("rank " + r + " sent " + theirs.length + " arrays, rank 0 has " + sum.length);
                for (int i = 0; i < sum.length; i++) {
                    if (theirs[i].length != sum[i].length)
                        throw new IOException("rank " + r + " sent " + theirs[i].length + " values for array " + i + ", rank 0 has " + sum[i].length);
                    for (int j = 0; j < sum[i].length; j++) sum[i][j] += theirs[i][j];
                }
            }
            for (int r = 1; r < ranks; r++) {
                for (int i = 0; i < sum.length; i++)
                    for (long[] range : wanted.parts(r, i, sum[i].length)) write(out[r], sum[i], (int) range[0], (int) range[1]);
                out[r].flush();
            }
            return sum;
        } catch (IOException e) {
            throw lost(e);
        }
    }

    /** Which ranges of a summed array a rank receives. */
    @FunctionalInterface
    public interface Wanted {
        List<long[]> parts(int rank, int array, int length);

        Wanted ALL = (r, i, n) -> List.of(new long[] {0, n});
    }

    private static void writeArrays(DataOutputStream o, float[][] arrays) throws IOException {
        o.writeInt(arrays.length);
        for (float[] a : arrays) {
            o.writeInt(a.length);
            write(o, a, 0, a.length);
        }
    }

    private static float[][] readArrays(DataInputStream i) throws IOException {
        int n = i.readInt();
        if (n < 0) throw new IOException("a peer sent a negative array count");
        float[][] out = new float[n][];
        for (int k = 0; k < n; k++) {
            int len = i.readInt();
            if (len < 0) throw new IOException("a peer sent a negative array length");
            out[k] = new float[len];
            readInto(i, out[k], 0, len);
        }
        return out;
    }

    private static void write(DataOutputStream o, float[] a, int from, int to) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = from; j < to; ) {
            int n = Math.min(to - j, b.capacity() / 4);
            b.clear();
            b.asFloatBuffer().put(a, j, n);
            o.write(b.array(), 0, n * 4);
            j += n;
        }
    }

    private static void readInto(DataInputStream i, float[] a, int from, int to) throws IOException {
        byte[] raw = new byte[1 << 16];
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = from; j < to; ) {
            int n = Math.min(to - j, raw.length / 4);
            i.readFully(raw, 0, n * 4);
            b.clear();
            b.asFloatBuffer().get(a, j, n);
            j += n;
        }
    }

    private UncheckedIOException lost(IOException e) {
        return new UncheckedIOException("rank " + rank + " of " + ranks + ": lost the connection to "
                + (rank == 0 ? "a peer" : "rank 0") + " (a rank failed?): " + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()), e);
    }

    @Override
    public void close() {
        for (Socket s : sockets) {
            try {
                if (s != null) s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        try {
            if (server != null) server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
