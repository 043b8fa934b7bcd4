package tern.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * Continuous batching, the bounded queue, failures and shutdown, over a {@link FakeDecoder} whose steps
 * the test releases one by one: a request joins a running batch between two steps, the batch never
 * exceeds max-batch, a full queue answers 429, a failing sequence fails only its own request, and a
 * shutdown cuts running streams with an error event after the grace period and refuses queued ones.
 */
class SchedulerTest {

    private static CompletionServer start(FakeDecoder d, int queue, long graceMillis) throws Exception {
        return CompletionServer.start(d, "fake", new CompletionServer.Options("127.0.0.1", 0, queue, 64, 1 << 16, graceMillis),
                ServeFixture.QUIET);
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        for (int i = 0; i < 2000; i++) {
            if (condition.getAsBoolean()) return;
            Thread.sleep(5);
        }
        throw new AssertionError("timed out waiting until " + what);
    }

    private static String body(String prompt, int maxTokens, boolean stream) {
        return "{\"prompt\":\"" + prompt + "\",\"max_tokens\":" + maxTokens + ",\"stream\":" + stream + "}";
    }

    @Test
    void aRequestJoinsARunningBatchBetweenSteps() throws Exception {
        FakeDecoder d = new FakeDecoder(2);
        d.hold();
        try (CompletionServer server = start(d, 8, 1000)) {
            ServeClient c = new ServeClient(server.port());
            var a = CompletableFuture.supplyAsync(() -> call(() -> c.stream(body("the cat", 6, true))));
            await("A is decoding", () -> d.openSequences() == 1);
            d.release(2);
            await("A took two steps", () -> d.batches.size() == 2);
            var b = CompletableFuture.supplyAsync(() -> call(() -> c.stream(body("a mat", 3, true))));
            var x = CompletableFuture.supplyAsync(() -> call(() -> c.complete(body("and then", 2, false))));
            await("B and X wait in the queue (the scheduler is held in A's third step)", () -> server.health().get("queued").equals(2));
            d.openGate();
            ServeClient.Stream sa = a.get(), sb = b.get();
            ServeClient.Reply sx = x.get();
            assertEquals(FakeDecoder.text(0, 6), sa.text());
            assertEquals("length", sa.finishReason());
            List<List<Integer>> steps = d.batches;
            assertEquals(List.of(0), steps.get(0));
            assertEquals(List.of(0), steps.get(1));
            assertTrue(steps.stream().allMatch(s -> s.size() <= 2), "never more than max-batch: " + steps);
            assertTrue(steps.stream().anyMatch(s -> s.contains(0) && s.size() == 2), "a later request joined A's batch: " + steps);
            // B and X each produced their own sequence's letters; which of them queued first (and got id 1) is up to the race.
            String gotX = (String) ((Map<?, ?>) ((List<?>) sx.json().get("choices")).get(0)).get("text");
            boolean bFirst = sb.text().equals(FakeDecoder.text(1, 3)) && gotX.equals(FakeDecoder.text(2, 2));
            boolean xFirst = gotX.equals(FakeDecoder.text(1, 2)) && sb.text().equals(FakeDecoder.text(2, 3));
            assertTrue(bFirst || xFirst, "B '" + sb.text() + "', X '" + gotX + "'");
            assertEquals(0, d.openSequences(), "every sequence was closed");
            assertEquals(6 + 3 + 2, ((Number) server.health().get("tokens")).intValue());
        }
        assertTrue(d.isClosed(), "the server closes its decoder");
    }

    @Test
    void aFullQueueAnswers429AndAFailedSequenceOnlyItsRequest() throws Exception {
        FakeDecoder d = new FakeDecoder(1);
        d.hold();
        try (CompletionServer server = start(d, 1, 1000)) {
            ServeClient c = new ServeClient(server.port());
            var a = CompletableFuture.supplyAsync(() -> call(() -> c.stream(body("the cat", 4, true))));
            await("A holds the slot", () -> d.openSequences() == 1);
            var b = CompletableFuture.supplyAsync(() -> call(() -> c.complete(body("a", 2, false))));
            await("B is queued", () -> server.health().get("queued").equals(1));
            var full = c.http.send(java.net.http.HttpRequest.newBuilder(c.base.resolve("/v1/completions"))
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body("x", 2, false))).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(429, full.statusCode(), full.body());
            assertEquals("1", full.headers().firstValue("Retry-After").orElse(null));
            assertTrue(full.body().contains("rate_limit_error"), full.body());
            d.openGate();
            assertEquals(FakeDecoder.text(0, 4), a.get().text());
            assertEquals(200, b.get().status());
            assertEquals(1L, ((Number) server.health().get("rejected")).longValue());

            ServeClient.Reply failed = c.complete(body("!", 4, false));
            assertEquals(500, failed.status(), failed.body());
            assertTrue(failed.body().contains("NaN logit"), failed.body());
            ServeClient.Stream failedStream = c.stream(body("!", 4, true));
            assertFalse(failedStream.done(), "a failed stream does not end with [DONE]");
            assertTrue(failedStream.events().getLast().contains("server_error"), failedStream.events().toString());
            assertEquals(200, c.complete(body("the cat", 2, false)).status(), "the server serves on");
            assertEquals(0, d.openSequences());
            assertEquals("ok", server.health().get("status"));
        }
    }

    @Test
    void shutdownCutsRunningStreamsAfterTheGraceAndRefusesQueuedOnes() throws Exception {
        FakeDecoder d = new FakeDecoder(1);
        d.hold();
        CompletionServer server = start(d, 4, 300);
        ServeClient c = new ServeClient(server.port());
        var a = CompletableFuture.supplyAsync(() -> call(() -> c.stream(body("the cat", 50, true))));
        await("A is decoding", () -> d.openSequences() == 1);
        d.release(3);
        var b = CompletableFuture.supplyAsync(() -> call(() -> c.complete(body("a", 2, false))));
        await("B is queued", () -> server.health().get("queued").equals(1));
        long t0 = System.nanoTime();
        var stopping = CompletableFuture.runAsync(server::shutdown);
        assertEquals(503, b.get().status(), "a queued request is refused at shutdown");
        d.pace(50);                         // 50 tokens at 50 ms a step: longer than the 300 ms grace
        ServeClient.Stream sa = a.get();
        stopping.get();
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertFalse(sa.done(), "a cut stream does not end with [DONE]: " + sa.text());
        assertTrue(sa.events().getLast().contains("shutting down"), sa.events().getLast());
        assertTrue(sa.text().startsWith(FakeDecoder.text(0, 3)), sa.text());
        assertTrue(seconds < 5, "shutdown took " + seconds + " s");
        assertTrue(d.isClosed());
        assertEquals(0, d.openSequences());
        assertThrows(ConnectException.class, () -> c.get("/health"), "the port is closed");
    }

    @Test
    void shutdownLetsAStreamFinishWithinTheGrace() throws Exception {
        FakeDecoder d = new FakeDecoder(2);
        d.hold();
        CompletionServer server = start(d, 4, 5_000);
        ServeClient c = new ServeClient(server.port());
        var a = CompletableFuture.supplyAsync(() -> call(() -> c.stream(body("the cat", 5, true))));
        await("A is decoding", () -> d.openSequences() == 1);
        var stopping = CompletableFuture.runAsync(server::shutdown);
        await("the server is stopping", () -> !"ok".equals(server.health().get("status")));
        d.openGate();
        ServeClient.Stream sa = a.get();
        stopping.get();
        assertTrue(sa.done(), sa.events().toString());
        assertEquals(FakeDecoder.text(0, 5), sa.text());
    }

    @FunctionalInterface
    interface Call<T> { T run() throws Exception; }

    static <T> T call(Call<T> c) {
        try {
            return c.run();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
