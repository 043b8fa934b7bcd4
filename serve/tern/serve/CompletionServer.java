package tern.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import tern.checkpoint.Json;
import tern.model.GenerationRequest;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;

/**
 * OpenAI-style completions over the JDK's built-in HTTP server: {@code POST /v1/completions} (a JSON
 * answer, or server-sent events with {@code "stream": true}), {@code GET /v1/models}, {@code GET /health}
 * (slot and queue counts). Each exchange runs on its own virtual thread and only waits on its
 * completion's events; the {@link Scheduler} thread does all decoding. Every bad request gets a 4xx with
 * an OpenAI error body naming the field; a client that goes away mid-stream is noticed at the next write
 * and its slot freed at the next step.
 */
public final class CompletionServer implements AutoCloseable {

    /**
     * @param host         address to bind (loopback unless asked otherwise)
     * @param port         0 = any free port
     * @param queue        completions waiting for a slot before 429s start
     * @param maxTokensCap the largest max_tokens a request may ask for
     * @param maxBodyBytes the largest request body (413 above it)
     * @param graceMillis  on shutdown, how long running completions may go on before they are cut
     */
    public record Options(String host, int port, int queue, int maxTokensCap, int maxBodyBytes, long graceMillis) {
        public Options {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in 0..65535, got " + port);
            if (queue < 1) throw new IllegalArgumentException("the queue must hold at least 1 request, got " + queue);
            if (maxTokensCap < 1) throw new IllegalArgumentException("the max_tokens cap must be ≥ 1, got " + maxTokensCap);
            if (maxBodyBytes < 1) throw new IllegalArgumentException("the body limit must be ≥ 1 byte, got " + maxBodyBytes);
            if (graceMillis < 0) throw new IllegalArgumentException("the shutdown grace must be ≥ 0 ms, got " + graceMillis);
        }

        public static Options defaults(int contextLength) {
            return new Options("127.0.0.1", 8080, 32, contextLength, 1 << 20, 10_000);
        }

        public Options withPort(int p) { return new Options(host, p, queue, maxTokensCap, maxBodyBytes, graceMillis); }
    }

    private final StepDecoder decoder;
    private final String modelId;
    private final Options options;
    private final PrintStream log;
    private final Scheduler scheduler;
    private final HttpServer http;
    private final ExecutorService exchanges = Executors.newVirtualThreadPerTaskExecutor();
    // One platform thread encodes prompts: the tokenizer keeps a word cache per thread, too big to make per request.
    private final ExecutorService tokenizerThread = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("tern-tokenizer").unstarted(r));
    private final SecureRandom seeds = new SecureRandom();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicBoolean stopped = new AtomicBoolean();
    private final long created = System.currentTimeMillis() / 1000;

    private CompletionServer(StepDecoder decoder, String modelId, Options options, PrintStream log) throws IOException {
        this.decoder = decoder;
        this.modelId = modelId;
        this.options = options;
        this.log = log;
        this.scheduler = new Scheduler(decoder, options.queue(), log);
        try {
            http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(options.host()), options.port()), 64);
        } catch (IOException e) {
            scheduler.stop(0);
            throw new IOException("cannot listen on " + options.host() + ":" + options.port() + ": " + e.getMessage(), e);
        }
        http.createContext("/v1/completions", ex -> serve(ex, "/v1/completions", "POST", this::completions));
        http.createContext("/v1/models", ex -> serve(ex, "/v1/models", "GET", this::models));
        http.createContext("/health", ex -> serve(ex, "/health", "GET", this::health));
        http.createContext("/", ex -> serve(ex, null, null, null));
        http.setExecutor(exchanges);
        http.start();
    }

    /** Starts serving {@code decoder}'s model as {@code modelId}; the decoder is closed with the server. */
    public static CompletionServer start(StepDecoder decoder, String modelId, Options options, PrintStream log) throws IOException {
        return new CompletionServer(decoder, modelId, options, log);
    }

    /** The port listened on (the one chosen when port 0 was asked for). */
    public int port() { return http.getAddress().getPort(); }

    public String modelId() { return modelId; }

    @FunctionalInterface
    private interface Route {
        void handle(HttpExchange ex) throws IOException;
    }

    /**
     * Runs one exchange: path and method checks, the route, and an error body for whatever it throws before
     * answering. Contexts match by prefix, so the exact path is checked here; a null route is a 404.
     */
    private void serve(HttpExchange ex, String path, String method, Route route) {
        try (ex) {
            try {
                if (route == null || !ex.getRequestURI().getPath().equals(path))
                    throw new ApiError(404, "not_found_error", null, "no route " + ex.getRequestMethod() + " " + ex.getRequestURI().getPath()
                            + " (served: POST /v1/completions, GET /v1/models, GET /health)");
                if (method != null && !method.equals(ex.getRequestMethod())) {
                    ex.getResponseHeaders().set("Allow", method);
                    throw new ApiError(405, "invalid_request_error", null, ex.getRequestURI().getPath() + " takes " + method
                            + ", not " + ex.getRequestMethod());
                }
                route.handle(ex);
            } catch (ApiError e) {
                sendError(ex, e);
            } catch (IOException e) {
                // the client went away or sent a broken request; nobody is left to answer
            } catch (RuntimeException e) {
                log.println("tern serve: " + ex.getRequestMethod() + " " + ex.getRequestURI() + " failed: " + e);
                sendError(ex, ApiError.internal(String.valueOf(e.getMessage())));
            }
        }
    }

    private static void sendError(HttpExchange ex, ApiError e) {
        if (ex.getResponseCode() != -1) return;          // headers already sent (a stream): the error went as an event
        if (e.status == 429) ex.getResponseHeaders().set("Retry-After", "1");
        try {
            sendJson(ex, e.status, e.body());
        } catch (IOException gone) {
            // nobody to tell
        }
    }

    private static void sendJson(HttpExchange ex, int status, Object body) throws IOException {
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    // ---- routes -----------------------------------------------------------------------------------------------

    private void models(HttpExchange ex) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", modelId);
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", "tern");
        m.put("context_length", decoder.config().contextLength());
        m.put("device", decoder.device());
        sendJson(ex, 200, Map.of("object", "list", "data", List.of(m)));
    }

    private void health(HttpExchange ex) throws IOException {
        sendJson(ex, 200, health());
    }

    /** What /health reports: whether the server takes requests, its slots and queue, counters since start. */
    public Map<String, Object> health() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("status", !scheduler.alive() ? "down" : scheduler.accepting() ? "ok" : "stopping");
        h.put("model", modelId);
        h.put("device", decoder.device());
        h.put("max_batch", decoder.maxBatch());
        h.put("active", scheduler.active());
        h.put("slots_free", decoder.maxBatch() - scheduler.active());
        h.put("open_sequences", decoder.openSequences());
        h.put("queued", scheduler.queued());
        h.put("queue_capacity", scheduler.queueCapacity());
        h.put("admitted", scheduler.admitted.get());
        h.put("completed", scheduler.completed.get());
        h.put("cancelled", scheduler.cancelled.get());
        h.put("failed", scheduler.failed.get());
        h.put("rejected", scheduler.rejected.get());
        h.put("steps", scheduler.steps.get());
        h.put("tokens", scheduler.tokens.get());
        return h;
    }

    private void completions(HttpExchange ex) throws IOException {
        CompletionRequest req = CompletionRequest.parse(readBody(ex), options.maxTokensCap(), seeds.nextLong());
        if (req.model() != null && !req.model().equals(modelId))
            throw new ApiError(404, "not_found_error", "model", "model '" + req.model() + "' is not served here (this server serves '" + modelId + "')");
        String id = String.format(Locale.ROOT, "cmpl-%x-%d", created, ids.incrementAndGet());
        Completion c = new Completion(id, req, generation(req), decoder.tokenizer());
        scheduler.submit(c);
        long start = System.nanoTime();
        if (req.stream()) stream(ex, c);
        else answer(ex, c);
        log.printf(Locale.ROOT, "tern serve: completion %s prompt %d tokens, %d new, %.2f s%s%n", req.stream() ? "stream" : "json",
                c.promptTokens(), c.produced(), (System.nanoTime() - start) / 1e9, c.cancelled() ? " (client left)" : "");
    }

    /** The body as text: at most maxBodyBytes, whole, and valid UTF-8. */
    private String readBody(HttpExchange ex) throws IOException {
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            body = in.readNBytes(options.maxBodyBytes() + 1);
        }
        if (body.length > options.maxBodyBytes())
            throw new ApiError(413, "invalid_request_error", null, "the request body is over " + options.maxBodyBytes() + " bytes");
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(body)).toString();
        } catch (CharacterCodingException e) {
            throw ApiError.invalid(null, "the body is not valid UTF-8");
        }
    }

    /** The prompt's tokens and sampling options; a prompt that leaves no room for max_tokens is a 400. */
    private GenerationRequest generation(CompletionRequest req) {
        SamplingOptions sampling = req.temperature() == 0f ? SamplingOptions.greedy()
                : SamplingOptions.sample(req.temperature(), req.topK(), req.topP(), req.seed());
        int context = decoder.config().contextLength();
        Tokenizer tokenizer = decoder.tokenizer();
        GenerationRequest g;
        try {
            g = tokenizerThread.submit(() -> GenerationRequest.of(tokenizer, req.prompt(), context, req.maxTokens(), sampling)).get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IllegalArgumentException bad) throw ApiError.invalid("prompt", bad.getMessage());
            throw ApiError.internal("tokenizing the prompt failed: " + e.getCause());
        } catch (InterruptedException | java.util.concurrent.RejectedExecutionException e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw ApiError.unavailable("the server is shutting down");
        }
        if (g.budget() < req.maxTokens())
            throw ApiError.invalid("max_tokens", "the prompt is " + g.ids().length + " tokens and max_tokens is " + req.maxTokens()
                    + ": together over the model's context of " + context + " tokens");
        return g;
    }

    /** The next event, waiting as long as the scheduler lives. */
    private Completion.Event next(Completion c) {
        while (true) {
            try {
                Completion.Event e = c.events.poll(1, TimeUnit.SECONDS);
                if (e != null) return e;
            } catch (InterruptedException ie) {
                c.cancel();
                return new Completion.Failed(ApiError.unavailable("the server is shutting down"));
            }
            if (!scheduler.alive()) {
                Completion.Event e = c.events.poll();
                return e != null ? e : new Completion.Failed(ApiError.internal("the scheduler stopped"));
            }
        }
    }

    private void answer(HttpExchange ex, Completion c) throws IOException {
        StringBuilder text = new StringBuilder();
        while (true) {
            switch (next(c)) {
                case Completion.Text t -> text.append(t.text());
                case Completion.Finished f -> {
                    Map<String, Object> body = head(c, "text_completion");
                    body.put("choices", List.of(choice(text.toString(), f.reason())));
                    body.put("usage", usage(f));
                    sendJson(ex, 200, body);
                    return;
                }
                case Completion.Failed f -> throw f.error();
            }
        }
    }

    private void stream(HttpExchange ex, Completion c) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        try {
            ex.sendResponseHeaders(200, 0);
            OutputStream os = ex.getResponseBody();
            while (true) {
                switch (next(c)) {
                    case Completion.Text t -> event(os, chunk(c, t.text(), null));
                    case Completion.Finished f -> {
                        event(os, chunk(c, "", f.reason()));
                        if (c.request.includeUsage()) {
                            Map<String, Object> u = head(c, "text_completion");
                            u.put("choices", List.of());
                            u.put("usage", usage(f));
                            event(os, Json.write(u));
                        }
                        event(os, "[DONE]");
                        os.close();
                        return;
                    }
                    case Completion.Failed f -> {          // no [DONE]: the stream did not complete
                        event(os, f.error().json());
                        os.close();
                        return;
                    }
                }
            }
        } catch (IOException gone) {
            c.cancel();                                     // the slot is freed at the next step
            throw gone;
        }
    }

    private static void event(OutputStream os, String data) throws IOException {
        os.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        os.flush();
    }

    private String chunk(Completion c, String text, String finishReason) {
        Map<String, Object> m = head(c, "text_completion");
        m.put("choices", List.of(choice(text, finishReason)));
        return Json.write(m);
    }

    private Map<String, Object> head(Completion c, String object) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", c.id);
        m.put("object", object);
        m.put("created", c.created);
        m.put("model", modelId);
        return m;
    }

    private static Map<String, Object> choice(String text, String finishReason) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("text", text);
        m.put("index", 0);
        m.put("logprobs", null);
        m.put("finish_reason", finishReason);
        return m;
    }

    private static Map<String, Object> usage(Completion.Finished f) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt_tokens", f.promptTokens());
        m.put("completion_tokens", f.completionTokens());
        m.put("total_tokens", f.promptTokens() + f.completionTokens());
        return m;
    }

    /**
     * Stops: the listening socket closes at once, queued requests get 503, running completions may finish
     * for the grace period and are then cut (an error event ends their stream), the decoder is closed.
     */
    public void shutdown() {
        if (!stopped.compareAndSet(false, true)) return;
        Thread httpStop = Thread.ofPlatform().name("tern-http-stop").start(() -> http.stop((int) (options.graceMillis() / 1000) + 2));
        scheduler.stop(options.graceMillis());
        try {
            httpStop.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        exchanges.shutdownNow();
        tokenizerThread.shutdownNow();
        decoder.close();
    }

    @Override public void close() { shutdown(); }
}
