package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.Json;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.serve.BatchedDecoder;
import tern.serve.CompletionServer;
import tern.serve.GatheringDecoder;
import tern.serve.ServeFixture;
import tern.simd.PackedMatmul;

/**
 * {@code tern serve --device cuda}: the server's batched decoder on the GPU streams, to four concurrent
 * clients, the greedy text the CPU generates alone from the same packed file. Skipped without CUDA.
 */
class ServeCudaTest {
    @TempDir Path dir;

    @Test
    void concurrentGreedyStreamsOnTheGpuEqualTheCpu() throws Exception {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        Path model = ServeFixture.packedModel(dir);
        List<String> prompts = List.of("the cat", "a mat and then", "spring flowers grow", "ka ro mi");
        List<String> expected = new ArrayList<>();
        try (TernModel cpu = TernModel.load(model)) {
            for (String p : prompts) expected.add(cpu.generate(p, SamplingOptions.greedy(), 24, null).text());
        }
        GatheringDecoder gathering = new GatheringDecoder(BatchedDecoder.load(model, new CudaBackend(), "cuda", 4, PackedMatmul.Activations.FLOAT));
        try (CompletionServer server = CompletionServer.start(gathering, "tiny", new CompletionServer.Options("127.0.0.1", 0, 8, 64, 1 << 16, 2_000),
                new PrintStream(OutputStream.nullOutputStream()))) {
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            URI url = URI.create("http://127.0.0.1:" + server.port() + "/v1/completions");
            // The first step waits for all four requests, so on a fast GPU they still share steps.
            gathering.until(() -> (Integer) server.health().get("queued") + gathering.openSequences() >= prompts.size());
            List<CompletableFuture<String>> texts = new ArrayList<>();
            for (String p : prompts)
                texts.add(CompletableFuture.supplyAsync(() -> stream(http, url, p)));
            for (int i = 0; i < prompts.size(); i++) assertEquals(expected.get(i), texts.get(i).get(), "prompt " + i);
            assertEquals("cuda", server.health().get("device"));
            assertTrue(((Number) server.health().get("steps")).longValue() < ((Number) server.health().get("tokens")).longValue(),
                    "the four streams shared decode steps: " + server.health());
        }
    }

    @SuppressWarnings("unchecked")
    private static String stream(HttpClient http, URI url, String prompt) {
        try {
            String body = "{\"prompt\":" + Json.write(prompt) + ",\"max_tokens\":24,\"temperature\":0,\"stream\":true}";
            HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(url).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            StringBuilder text = new StringBuilder();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.startsWith("data: {")) continue;
                    Map<String, Object> m = Json.parseObject(line.substring(6));
                    if (m.containsKey("error")) throw new AssertionError(line);
                    for (Object c : (List<Object>) m.get("choices")) text.append(((Map<String, Object>) c).get("text"));
                }
            }
            return text.toString();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
