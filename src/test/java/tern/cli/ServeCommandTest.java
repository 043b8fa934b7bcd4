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
}
