package tern.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.simd.CpuBackend;
import tern.simd.PackedMatmul;

/**
 * The server on an ephemeral loopback port over a tiny packed model: what it streams and answers equals
 * what {@link TernModel} generates alone (greedy and seeded sampling, several clients at once, sharing
 * decode steps), stop strings cut both forms alike, bad requests get a 4xx naming the field, and a
 * client that leaves mid-stream gives its slot back.
 */
class CompletionServerTest {
    @TempDir static Path dir;
    static Path model;
    static CompletionServer server;
    static GatheringDecoder gathering;
    static ServeClient client;
    static TernModel alone;
    static final int MAX_BATCH = 4;

    @BeforeAll
    static void start() throws Exception {
        model = ServeFixture.packedModel(dir);
        alone = TernModel.load(model);
        gathering = new GatheringDecoder(BatchedDecoder.load(model, new CpuBackend(), "cpu", MAX_BATCH, PackedMatmul.Activations.FLOAT));
        server = CompletionServer.start(gathering, "tiny", new CompletionServer.Options("127.0.0.1", 0, 64, 100, 1 << 16, 2_000), ServeFixture.QUIET);
        client = new ServeClient(server.port());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.shutdown();
        if (alone != null) alone.close();
    }

    static TernModel.Result greedy(String prompt, int n) {
        return alone.generate(prompt, SamplingOptions.greedy(), n, null);
    }

    @Test
    void concurrentGreedyStreamsEqualTheModelAlone() throws Exception {
        concurrentGreedyStreams(client, gathering, server);
    }

    /** The interleaved one-generation-per-sequence decoder (kept to compare against) serves the same text. */
    @Test
    void thePerSequenceDecoderServesTheSameText() throws Exception {
        GatheringDecoder d = new GatheringDecoder(PerSequenceDecoder.load(model, 3, PackedMatmul.Activations.FLOAT));
        try (CompletionServer other = CompletionServer.start(d, "tiny",
                new CompletionServer.Options("127.0.0.1", 0, 8, 100, 1 << 16, 2_000), ServeFixture.QUIET)) {
            concurrentGreedyStreams(new ServeClient(other.port()), d, other);
        }
    }

    /** Six streams at once; the first step waits until as many as fit a batch are in, so they share steps. */
    static void concurrentGreedyStreams(ServeClient client, GatheringDecoder gathering, CompletionServer server) throws Exception {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 6; i++) prompts.add(ServeFixture.text(100 + i, 3 + i));
        int fill = Math.min(prompts.size(), gathering.maxBatch());
        gathering.until(() -> (Integer) server.health().get("queued") + gathering.openSequences() >= fill);
        int n = 30;
        long stepsBefore = ((Number) client.get("/health").json().get("steps")).longValue();
        long tokensBefore = ((Number) client.get("/health").json().get("tokens")).longValue();
        ExecutorService pool = Executors.newFixedThreadPool(prompts.size());
        try {
            List<Future<ServeClient.Stream>> streams = new ArrayList<>();
            for (String p : prompts) streams.add(pool.submit(() -> client.stream(ServeClient.request(p, n, true, ""))));
            for (int i = 0; i < prompts.size(); i++) {
                ServeClient.Stream s = streams.get(i).get();
                TernModel.Result r = greedy(prompts.get(i), n);
                assertEquals(200, s.status());
                assertTrue(s.done(), "the stream ends with [DONE]: " + s.events());
                assertEquals(r.text(), s.text(), "greedy text of prompt " + i);
                assertEquals(r.newTokens() < n ? "stop" : "length", s.finishReason());
            }
        } finally {
            pool.shutdown();
        }
        Map<String, Object> h = client.get("/health").json();
        long steps = ((Number) h.get("steps")).longValue() - stepsBefore, tokens = ((Number) h.get("tokens")).longValue() - tokensBefore;
        assertTrue(steps < tokens, "concurrent requests shared decode steps: " + steps + " steps for " + tokens + " tokens");

        // The JSON answer: same text, usage counted as the model counts.
        String p = prompts.get(2);
        ServeClient.Reply reply = client.complete(ServeClient.request(p, n, false, ""));
        assertEquals(200, reply.status(), reply.body());
        Map<String, Object> body = reply.json();
        TernModel.Result r = greedy(p, n);
        assertEquals("text_completion", body.get("object"));
        assertEquals("tiny", body.get("model"));
        Map<?, ?> choice = (Map<?, ?>) ((List<?>) body.get("choices")).get(0);
        assertEquals(r.text(), choice.get("text"));
        Map<?, ?> usage = (Map<?, ?>) body.get("usage");
        assertEquals((long) r.promptTokens(), usage.get("prompt_tokens"));
        assertEquals((long) r.newTokens(), usage.get("completion_tokens"));
        assertEquals((long) (r.promptTokens() + r.newTokens()), usage.get("total_tokens"));
    }

    @Test
    void seededSamplingEqualsTheModelAlone() throws Exception {
        String p = ServeFixture.text(3, 5);
        String body = "{\"prompt\":" + Json.write(p) + ",\"max_tokens\":25,\"temperature\":0.8,\"top_k\":20,\"top_p\":0.9,\"seed\":42}";
        TernModel.Result r = alone.generate(p, SamplingOptions.sample(0.8f, 20, 0.9f, 42), 25, null);
        ServeClient.Reply a = client.complete(body), b = client.complete(body);
        assertEquals(200, a.status(), a.body());
        assertEquals(r.text(), ((Map<?, ?>) ((List<?>) a.json().get("choices")).get(0)).get("text"));
        assertEquals(a.json().get("choices"), b.json().get("choices"), "same seed, same text");
        assertEquals(r.text(), client.stream(body.replace("}", ",\"stream\":true}")).text());
    }

    @Test
    void stopStringsCutStreamAndAnswerAlike() throws Exception {
        String p = ServeFixture.text(11, 4);
        TernModel.Result r = greedy(p, 40);
        assertTrue(r.text().length() > 12, "the fixture generates enough text: '" + r.text() + "'");
        String stop = r.text().substring(r.text().length() / 2, r.text().length() / 2 + 3);
        String expected = r.text().substring(0, r.text().indexOf(stop));
        String extra = "\"stop\":[" + Json.write(stop) + ",\"never-there\"],\"stream_options\":{\"include_usage\":true}";
        ServeClient.Stream s = client.stream(ServeClient.request(p, 40, true, extra));
        assertEquals(expected, s.text());
        assertEquals("stop", s.finishReason());
        assertTrue(s.done());
        Map<String, Object> usageChunk = Json.parseObject(s.events().get(s.events().size() - 2));
        long completion = (Long) ((Map<?, ?>) usageChunk.get("usage")).get("completion_tokens");
        assertTrue(completion < 40, "generation ended at the stop string, after " + completion + " tokens");
        ServeClient.Reply reply = client.complete(ServeClient.request(p, 40, false, "\"stop\":" + Json.write(stop)));
        Map<?, ?> choice = (Map<?, ?>) ((List<?>) reply.json().get("choices")).get(0);
        assertEquals(expected, choice.get("text"));
        assertEquals("stop", choice.get("finish_reason"));
    }

    record Bad(String body, int status, String param) {}

    @Test
    void badRequestsGetA4xxNamingTheProblem() throws Exception {
        String longPrompt = ServeFixture.text(1, 400);
        List<Bad> cases = List.of(
                new Bad("{\"prompt\": \"a\", ", 400, null),                       // cut JSON
                new Bad("not json", 400, null),
                new Bad("[\"a\"]", 400, null),                                    // not an object
                new Bad("{}", 400, "prompt"),
                new Bad("{\"prompt\": 5}", 400, "prompt"),
                new Bad("{\"prompt\": [\"a\", \"b\"]}", 400, "prompt"),
                new Bad("{\"prompt\": \"\"}", 400, "prompt"),
                new Bad("{\"prompt\": " + Json.write(longPrompt) + "}", 400, "prompt"),
                new Bad("{\"prompt\": \"the cat\", \"max_tokens\": 120}", 400, "max_tokens"),   // over the cap of 100
                new Bad("{\"prompt\": " + Json.write(ServeFixture.text(1, 60)) + ", \"max_tokens\": 100}", 400, "max_tokens"),
                new Bad("{\"prompt\": \"a\", \"max_tokens\": 0}", 400, "max_tokens"),
                new Bad("{\"prompt\": \"a\", \"max_tokens\": \"5\"}", 400, "max_tokens"),
                new Bad("{\"prompt\": \"a\", \"max_tokens\": 2.5}", 400, "max_tokens"),
                new Bad("{\"prompt\": \"a\", \"temperature\": \"hot\"}", 400, "temperature"),
                new Bad("{\"prompt\": \"a\", \"temperature\": 2.5}", 400, "temperature"),
                new Bad("{\"prompt\": \"a\", \"top_p\": 0}", 400, "top_p"),
                new Bad("{\"prompt\": \"a\", \"top_k\": -2}", 400, "top_k"),
                new Bad("{\"prompt\": \"a\", \"seed\": 1.5}", 400, "seed"),
                new Bad("{\"prompt\": \"a\", \"stop\": 3}", 400, "stop"),
                new Bad("{\"prompt\": \"a\", \"stop\": [\"\"]}", 400, "stop"),
                new Bad("{\"prompt\": \"a\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop"),
                new Bad("{\"prompt\": \"a\", \"stream\": \"yes\"}", 400, "stream"),
                new Bad("{\"prompt\": \"a\", \"stream_options\": {\"include_usage\": true}}", 400, "stream_options"),
                new Bad("{\"prompt\": \"a\", \"n\": 2}", 400, "n"),
                new Bad("{\"prompt\": \"a\", \"logprobs\": 3}", 400, "logprobs"),
                new Bad("{\"prompt\": \"a\", \"max_tokenz\": 3}", 400, "max_tokenz"),
                new Bad("{\"prompt\": \"a\", \"model\": \"gpt-4\"}", 404, "model"));
        for (Bad b : cases) {
            ServeClient.Reply r = client.complete(b.body());
            assertEquals(b.status(), r.status(), b.body() + " → " + r.body());
            Map<String, Object> e = r.error();
            assertNotNull(e, r.body());
            assertEquals(b.param(), e.get("param"), b.body() + " → " + r.body());
            assertFalse(((String) e.get("message")).isBlank());
        }
        // The no-op values of unserved OpenAI fields are accepted, as are nulls.
        ServeClient.Reply ok = client.complete("{\"prompt\":\"the cat\",\"max_tokens\":2,\"n\":1,\"echo\":false,\"logprobs\":null,"
                + "\"presence_penalty\":0,\"frequency_penalty\":0.0,\"logit_bias\":{},\"user\":\"u\",\"model\":\"tiny\",\"top_p\":null}");
        assertEquals(200, ok.status(), ok.body());
        assertEquals(405, client.get("/v1/completions").status());
        assertEquals(404, client.get("/v2/nothing").status());
        assertEquals(404, client.get("/health/more").status());
        assertEquals(413, client.complete("{\"prompt\":" + Json.write("x".repeat(1 << 16)) + "}").status());
        // Invalid UTF-8 in the body.
        var raw = client.http.send(java.net.http.HttpRequest.newBuilder(client.base.resolve("/v1/completions"))
                .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(new byte[] {'{', '"', (byte) 0xC3, '"', ':', '1', '}'})).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(400, raw.statusCode());
        assertTrue(raw.body().contains("UTF-8"), raw.body());

        Map<String, Object> models = client.get("/v1/models").json();
        assertEquals("tiny", ((Map<?, ?>) ((List<?>) models.get("data")).get(0)).get("id"));
        assertIdle();
    }

    @Test
    void aClientThatLeavesMidStreamFreesItsSlot() throws Exception {
        long cancelledBefore = (Long) client.get("/health").json().get("cancelled");
        for (int i = 0; i < MAX_BATCH + 2; i++) {           // more than the slots: a leak would block the later ones
            try (Socket s = new Socket("127.0.0.1", server.port())) {
                byte[] body = ServeClient.request(ServeFixture.text(i, 3), 90, true, "").getBytes(StandardCharsets.UTF_8);
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                for (String line; (line = in.readLine()) != null; ) if (line.startsWith("data: ")) break;
            }
        }
        assertIdle();
        assertTrue((Long) client.get("/health").json().get("cancelled") > cancelledBefore, "the left streams were cancelled");
        assertEquals(greedy("the cat", 5).text(), client.stream(ServeClient.request("the cat", 5, true, "")).text());
    }

    static void assertIdle() throws Exception { assertIdle(client); }

    /** Waits (10 s at most) for no active, queued or open sequence. */
    static void assertIdle(ServeClient client) throws Exception {
        Map<String, Object> h = null;
        for (int i = 0; i < 1000; i++) {
            h = client.get("/health").json();
            if ((Long) h.get("active") == 0 && (Long) h.get("queued") == 0 && (Long) h.get("open_sequences") == 0) return;
            Thread.sleep(10);
        }
        throw new AssertionError("the server did not become idle: " + h);
    }
}
