package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.serve.ServeFixture;

/**
 * {@code tern serve} as a user runs it: --help, flag errors, the startup lines, and SIGTERM while a
 * stream is running: the stream finishes (or is cut with an error event), the port closes, exit 0.
 */
class ServeCommandTest {
    @TempDir Path dir;

    @Test
    void helpAndFlagErrors() throws Exception {
        assertEquals(0, ServeCommand.run(new String[] {"--help"}));
        assertTrue(ServeCommand.USAGE.contains("--max-batch") && ServeCommand.USAGE.contains("/v1/completions"));
        assertThrows(UsageException.class, () -> ServeCommand.run(new String[] {"--port", "1"}), "--model is required");
        UsageException e = assertThrows(UsageException.class, () -> ServeCommand.run(new String[] {"--model", "m.tern", "--max-batch", "0"}));
        assertTrue(e.getMessage().contains("--max-batch"), e.getMessage());
        e = assertThrows(UsageException.class, () -> ServeCommand.run(new String[] {"--model", "m.tern", "--device", "tpu"}));
        assertTrue(e.getMessage().contains("--device"), e.getMessage());
        e = assertThrows(UsageException.class, () -> ServeCommand.run(new String[] {"--model", dir.resolve("none.tern").toString()}));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    /** The port from the "listening on" line, waiting up to 60 s for it. */
    private static int listeningPort(Process p, Path log) throws Exception {
        Pattern listening = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");
        for (int i = 0; i < 6000; i++) {
            for (String line : Files.readAllLines(log)) {
                Matcher m = listening.matcher(line);
                if (m.find()) return Integer.parseInt(m.group(1));
            }
            if (!p.isAlive()) throw new AssertionError("the server exited before listening: " + Files.readAllLines(log));
            Thread.sleep(10);
        }
        throw new AssertionError("the server did not start listening in 60 s: " + Files.readAllLines(log));
    }

    @Test
    void sigtermFinishesTheRunningStreamAndExitsZero() throws Exception {
        Path model = ServeFixture.packedModel(dir);
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), "tern.cli.Main",
                "serve", "--model", model.toString(), "--port", "0", "--max-batch", "2", "--grace", "20");
        // Output to a file, not a pipe: a pipe's last lines can be lost to a reader when the process exits.
        Path log = dir.resolve("serve.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            int at = listeningPort(p, log);
            List<String> lines = Files.readAllLines(log);
            assertTrue(lines.stream().anyMatch(l -> l.contains("model tiny") && l.contains("context 128")), lines.toString());
            assertTrue(lines.stream().anyMatch(l -> l.contains("device cpu") && l.contains("max batch 2")), lines.toString());
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"the cat\",\"max_tokens\":100,\"temperature\":0,\"stream\":true}")).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            BufferedReader events = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
            String first = events.readLine();
            assertTrue(first.startsWith("data: {"), first);
            p.destroy();                                          // SIGTERM
            String last = first;
            for (String line; (line = events.readLine()) != null; ) if (line.startsWith("data: ")) last = line;
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the server exits after SIGTERM");
            lines = Files.readAllLines(log);
            assertEquals(0, p.exitValue(), "exit status after SIGTERM; output: " + lines);
            assertEquals("data: [DONE]", last, "the running stream finished within the grace");
            assertTrue(lines.stream().anyMatch(l -> l.contains("tern serve: stopped")), lines.toString());
            assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", at).close(), "the port is closed");
        } finally {
            p.destroyForcibly();
        }
    }

    private List<String> serveCommand(Path model, int port) {
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), "tern.cli.Main",
                "serve", "--model", model.toString(), "--port", Integer.toString(port), "--max-batch", "4");
    }

    /** Every file under {@code root} with its size and modification time: what a killed server might have left. */
    private static java.util.Map<Path, String> snapshot(Path root) throws Exception {
        java.util.Map<Path, String> m = new java.util.TreeMap<>();
        try (var files = Files.walk(root)) {
            for (Path f : files.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith("serve")).toList())
                m.put(f, Files.size(f) + "@" + Files.getLastModifiedTime(f).toMillis());
        }
        return m;
    }

    /**
     * SIGKILL under load (RELIABILITY.md): three streams running, the server is killed outright. It writes no
     * file of its own, so nothing is left half-written (the model folder is byte for byte as it was), and a
     * server started again on the same port answers at once with the same greedy text.
     */
    @Test
    void sigkillUnderLoadLeavesNoFileAndARestartServesAtOnce() throws Exception {
        Path model = ServeFixture.packedModel(dir);
        java.util.Map<Path, String> before = snapshot(dir);
        Path log = dir.resolve("serve-1.log");
        Process p = new ProcessBuilder(serveCommand(model, 0)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        String body = "{\"prompt\":\"the cat\",\"max_tokens\":12,\"temperature\":0}";
        int at;
        String greedyBefore;
        try {
            at = listeningPort(p, log);
            URI uri = URI.create("http://127.0.0.1:" + at + "/v1/completions");
            greedyBefore = http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            List<BufferedReader> streams = new java.util.ArrayList<>();
            for (int i = 0; i < 3; i++) {
                HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\":\"a dog " + i + "\",\"max_tokens\":100,\"temperature\":0,\"stream\":true}")).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                assertEquals(200, r.statusCode());
                BufferedReader events = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
                assertTrue(events.readLine().startsWith("data: {"));
                streams.add(events);
            }
            p.destroyForcibly();                                  // SIGKILL mid-stream
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            for (BufferedReader events : streams) {
                String last = "";
                try {
                    for (String line; (line = events.readLine()) != null; ) if (line.startsWith("data: ")) last = line;
                } catch (java.io.IOException cut) {
                    // the connection was reset: what a killed server gives
                }
                assertTrue(!last.equals("data: [DONE]"), "a stream cut by SIGKILL does not claim to be complete");
            }
        } finally {
            p.destroyForcibly();
        }
        assertEquals(before, snapshot(dir), "the killed server left the files as they were");
        Path log2 = dir.resolve("serve-2.log");
        long start = System.nanoTime();
        Process again = new ProcessBuilder(serveCommand(model, at)).redirectErrorStream(true).redirectOutput(log2.toFile()).start();
        try {
            assertEquals(at, listeningPort(again, log2), "the restart binds the same port");
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals(200, r.statusCode(), r.body());
            String text = "\"text\":";
            assertEquals(greedyBefore.substring(greedyBefore.indexOf(text), greedyBefore.indexOf('"', greedyBefore.indexOf(text) + 8)),
                    r.body().substring(r.body().indexOf(text), r.body().indexOf('"', r.body().indexOf(text) + 8)), "the same greedy text");
            System.out.printf("serve kill: restart answered its first completion %.1f s after starting%n", seconds);
        } finally {
            again.destroy();
            again.waitFor(30, TimeUnit.SECONDS);
            again.destroyForcibly();
        }
    }
}
