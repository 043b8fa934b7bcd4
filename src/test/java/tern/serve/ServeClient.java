package tern.serve;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import tern.checkpoint.Json;

/** The tests' HTTP side: JSON posts and server-sent-event streams against one server. */
final class ServeClient {
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    final URI base;

    ServeClient(int port) { base = URI.create("http://127.0.0.1:" + port); }

    record Reply(int status, String body) {
        Map<String, Object> json() { return Json.parseObject(body); }

        @SuppressWarnings("unchecked")
        Map<String, Object> error() { return (Map<String, Object>) json().get("error"); }
    }

    /** A streamed completion: the data lines in order (the last is [DONE] when it completed). */
    record Stream(int status, List<String> events) {
        /** The text of every chunk, joined. */
        @SuppressWarnings("unchecked")
        String text() {
            StringBuilder sb = new StringBuilder();
            for (String e : events) {
                if (e.equals("[DONE]")) continue;
                Map<String, Object> m = Json.parseObject(e);
                for (Object c : (List<Object>) m.getOrDefault("choices", List.of())) sb.append(((Map<String, Object>) c).get("text"));
            }
            return sb.toString();
        }

        @SuppressWarnings("unchecked")
        String finishReason() {
            for (String e : events) {
                if (e.equals("[DONE]")) continue;
                for (Object c : (List<Object>) Json.parseObject(e).getOrDefault("choices", List.of())) {
                    Object r = ((Map<String, Object>) c).get("finish_reason");
                    if (r != null) return (String) r;
                }
            }
            return null;
        }

        boolean done() { return !events.isEmpty() && events.getLast().equals("[DONE]"); }
    }

    Reply get(String path) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve(path)).GET().build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body());
    }

    Reply post(String path, String body) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve(path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body());
    }

    Reply complete(String body) throws IOException, InterruptedException { return post("/v1/completions", body); }

    Stream stream(String body) throws IOException, InterruptedException {
        HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
        List<String> events = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("data: ")) events.add(line.substring(6));
                else if (!line.isEmpty() && r.statusCode() == 200) throw new IOException("not an SSE line: " + line);
                else if (r.statusCode() != 200) events.add(line);
            }
        }
        return new Stream(r.statusCode(), events);
    }

    static String request(String prompt, int maxTokens, boolean stream, String extra) {
        return "{\"prompt\":" + Json.write(prompt) + ",\"max_tokens\":" + maxTokens + ",\"temperature\":0,\"stream\":" + stream
                + (extra.isEmpty() ? "" : "," + extra) + "}";
    }
}
