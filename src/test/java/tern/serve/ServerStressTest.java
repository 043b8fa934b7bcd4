package tern.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.CpuBackend;
import tern.simd.PackedMatmul;

/**
 * 1,000 requests from 16 concurrent clients, every tenth one hostile (malformed JSON, a body cut short
 * and the socket closed, a stream abandoned after its first event, a request line that is not HTTP):
 * every good request gets its exact greedy text, every malformed one a 400, and afterwards no slot, queue
 * entry or sequence is left and the server still answers.
 */
class ServerStressTest {
    @TempDir static Path dir;

    @Test
    void aThousandRequestsWithOneInTenHostile() throws Exception {
        Path model = ServeFixture.packedModel(dir);
        int n = 1000, clients = 16, maxTokens = 3;
        List<String> prompts = List.of("the cat", "a mat and", "spring flowers", "ka ro mi", "東京 café", "then ran to", "where", "garden 😀");
        String[] expected = new String[prompts.size()];
        try (TernModel alone = TernModel.load(model)) {
            for (int i = 0; i < expected.length; i++) expected[i] = alone.generate(prompts.get(i), SamplingOptions.greedy(), maxTokens, null).text();
        }
        try (CompletionServer server = CompletionServer.start(BatchedDecoder.load(model, new CpuBackend(), "cpu", 4, PackedMatmul.Activations.FLOAT),
                "tiny", new CompletionServer.Options("127.0.0.1", 0, 128, 32, 1 << 16, 2_000), ServeFixture.QUIET)) {
            ServeClient client = new ServeClient(server.port());
            AtomicInteger next = new AtomicInteger(), good = new AtomicInteger(), refused = new AtomicInteger();
            Queue<String> problems = new ConcurrentLinkedQueue<>();
            Thread[] threads = new Thread[clients];
            long t0 = System.nanoTime();
            for (int t = 0; t < clients; t++) {
                threads[t] = Thread.ofPlatform().name("stress-client-" + t).start(() -> {
                    for (int i; (i = next.getAndIncrement()) < n; ) {
                        try {
                            if (i % 10 == 0) hostile(i / 10 % 4, server.port(), client, refused, problems);
                            else {
                                int p = i % prompts.size();
                                boolean stream = i % 2 == 0;
                                String body = ServeClient.request(prompts.get(p), maxTokens, stream, "");
                                String text;
                                if (stream) {
                                    ServeClient.Stream s = client.stream(body);
                                    if (s.status() != 200 || !s.done()) { problems.add("request " + i + ": stream " + s.status() + " " + s.events()); continue; }
                                    text = s.text();
                                } else {
                                    ServeClient.Reply r = client.complete(body);
                                    if (r.status() != 200) { problems.add("request " + i + ": " + r.status() + " " + r.body()); continue; }
                                    text = (String) ((Map<?, ?>) ((List<?>) r.json().get("choices")).get(0)).get("text");
                                }
                                if (text.equals(expected[p])) good.incrementAndGet();
                                else problems.add("request " + i + ": '" + text + "' instead of '" + expected[p] + "'");
                            }
                        } catch (Exception e) {
                            problems.add("request " + i + ": " + e);
                        }
                    }
                });
            }
            for (Thread t : threads) t.join(120_000);
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(problems.isEmpty(), problems.size() + " problems, first: " + problems.stream().limit(5).toList());
            assertEquals(900, good.get(), "every good request answered with its text");
            assertEquals(25, refused.get(), "every malformed body got a 400");
            CompletionServerTest.assertIdle(client);
            Map<String, Object> h = client.get("/health").json();
            assertEquals("ok", h.get("status"));
            assertEquals(0L, h.get("failed"));
            assertEquals(0L, h.get("rejected"));
            // Every admitted completion ended one way: finished, or cancelled when its client left (an abandoned stream
            // whose tokens all fit the socket buffer before the close arrives finishes instead).
            assertEquals((Long) h.get("admitted"), (Long) h.get("completed") + (Long) h.get("cancelled"), h.toString());
            assertTrue((Long) h.get("completed") >= 900, h.toString());
            assertEquals(200, client.complete(ServeClient.request("the cat", 2, false, "")).status(), "the server still serves");
            System.out.printf("ServerStressTest: %d requests in %.1f s, %s%n", n, seconds, h);
        }
    }

    /** Kind 0: malformed JSON (a 400); 1: half a body, then close; 2: a stream left after its first event; 3: not HTTP. */
    private static void hostile(int kind, int port, ServeClient client, AtomicInteger refused, Queue<String> problems)
            throws IOException, InterruptedException {
        switch (kind) {
            case 0 -> {
                ServeClient.Reply r = client.complete("{\"prompt\": \"the cat\", \"max_tokens\": 3,");
                if (r.status() == 400 && r.body().contains("invalid_request_error")) refused.incrementAndGet();
                else problems.add("malformed JSON got " + r.status() + " " + r.body());
            }
            case 1 -> raw(port, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{\"prompt\": \"the c", false);
            case 2 -> {
                byte[] body = ServeClient.request("the cat", 30, true, "").getBytes(StandardCharsets.UTF_8);
                raw(port, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length + "\r\n\r\n"
                        + new String(body, StandardCharsets.UTF_8), true);
            }
            default -> raw(port, "HELLO THERE\r\n\r\n", false);
        }
    }

    /** Sends {@code request} on a fresh socket; reads up to the first event when asked; then closes. */
    private static void raw(int port, String request, boolean readFirstEvent) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.UTF_8));
            out.flush();
            if (readFirstEvent) {
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                for (String line; (line = in.readLine()) != null; ) if (line.startsWith("data: ")) break;
            }
        }
    }
}
