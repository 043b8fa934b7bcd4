package tern.serve;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import tern.checkpoint.Json;
import tern.model.BpeTrainer;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.Precision;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;

/**
 * The server's load measurement (not a test): a random-weight packed TriLM of a small shape, served in
 * this process on loopback, then streamed from by 1 client and by C concurrent clients in turns (the pair
 * repeated, so both see the same machine load), each request greedy, max_tokens T, a prompt of its own.
 * Prints aggregate tokens/s (completion tokens / wall time of the round), and p50/p99 of the time between
 * two streamed tokens of one request (the first token excluded: it carries the queue wait and prefill).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp CLASSES:TEST_CLASSES tern.serve.ServeLoad
 *      [--hidden 512] [--layers 8] [--clients 8] [--tokens 64] [--requests 2] [--rounds 2] [--decoder batched|per-sequence|both]
 *      [--activations float|int8] [--model FILE.tern]   (serve that packed file instead of a random one)
 *      [--write-model FILE]   (only writes the model and exits)
 * </pre>
 */
public final class ServeLoad {
    private ServeLoad() {}

    /** A random-weight TriLM with a 512-token BPE, packed (f16 embedding and head, as tern pack writes). */
    static Path model(Path out, int hidden, int layers) throws Exception {
        Tokenizer tokenizer = BpeTrainer.train(ServeFixture.text(7, 20_000), 512);
        Path tok = Files.createTempFile("tern-load-tokenizer", ".json");
        TokenizerFiles.save(tokenizer, tok);
        LlamaConfig c = new LlamaConfig(tokenizer.vocabSize(), hidden, hidden * 3, layers, Math.max(1, hidden / 64), 256, 1e-5f, 10000f, 1,
                Precision.of(new LinearPolicy.Ternary(1)));
        try (LlamaModel m = new LlamaModel(new CpuBackend(), c)) {
            m.initialize(3);
            for (Parameter p : List.of(m.parameter("model.embed_tokens.weight"), m.parameter("lm_head.weight"))) m.backend().scale(p.value, 50f);
            PackedModelWriter.write(m, Files.readString(tok), PackedFloatMatvec.Format.F16, out);
        } finally {
            Files.deleteIfExists(tok);
        }
        return out;
    }

    record Round(int clients, long tokens, double seconds, double[] gapsMs) {
        double tokensPerSecond() { return tokens / seconds; }

        double percentile(double q) {
            if (gapsMs.length == 0) return Double.NaN;
            return gapsMs[Math.min(gapsMs.length - 1, (int) Math.floor(q * (gapsMs.length - 1) + 0.5))];
        }
    }

    static Round round(HttpClient http, URI url, int clients, int requestsEach, int tokens, int salt) throws Exception {
        ConcurrentLinkedQueue<Double> gaps = new ConcurrentLinkedQueue<>();
        AtomicLong produced = new AtomicLong();
        List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread[] ts = new Thread[clients];
        long t0 = System.nanoTime();
        for (int c = 0; c < clients; c++) {
            int client = c;
            ts[c] = Thread.ofPlatform().start(() -> {
                try {
                    for (int r = 0; r < requestsEach; r++) {
                        String prompt = ServeFixture.text(salt * 1000 + client * 50 + r, 6);
                        String body = "{\"prompt\":" + Json.write(prompt) + ",\"max_tokens\":" + tokens
                                + ",\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
                        HttpResponse<java.io.InputStream> resp = http.send(HttpRequest.newBuilder(url).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                                HttpResponse.BodyHandlers.ofInputStream());
                        if (resp.statusCode() != 200) throw new IllegalStateException("status " + resp.statusCode());
                        long last = -1;
                        try (BufferedReader in = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
                            for (String line; (line = in.readLine()) != null; ) {
                                if (!line.startsWith("data: {")) continue;
                                var m = Json.parseObject(line.substring(6));
                                if (m.get("usage") instanceof java.util.Map<?, ?> u) { produced.addAndGet((Long) u.get("completion_tokens")); continue; }
                                long now = System.nanoTime();
                                if (last >= 0) gaps.add((now - last) / 1e6);
                                last = now;
                            }
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
        }
        for (Thread t : ts) t.join();
        if (!errors.isEmpty()) throw new IllegalStateException("a client failed", errors.getFirst());
        double seconds = (System.nanoTime() - t0) / 1e9;
        double[] g = gaps.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(g);
        return new Round(clients, produced.get(), seconds, g);
    }

    static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "?";
        }
    }

    public static void main(String[] argv) throws Exception {
        int hidden = 512, layers = 8, clients = 8, tokens = 64, requests = 2, rounds = 2;
        String decoders = "both";
        Path write = null, given = null;
        PackedMatmul.Activations activations = PackedMatmul.Activations.FLOAT;
        for (int i = 0; i < argv.length; i += 2) {
            String v = argv[i + 1];
            switch (argv[i]) {
                case "--hidden" -> hidden = Integer.parseInt(v);
                case "--layers" -> layers = Integer.parseInt(v);
                case "--clients" -> clients = Integer.parseInt(v);
                case "--tokens" -> tokens = Integer.parseInt(v);
                case "--requests" -> requests = Integer.parseInt(v);
                case "--rounds" -> rounds = Integer.parseInt(v);
                case "--decoder" -> decoders = v;
                case "--write-model" -> write = Path.of(v);
                case "--model" -> given = Path.of(v);
                case "--activations" -> activations = PackedMatmul.Activations.valueOf(v.toUpperCase(Locale.ROOT));
                default -> throw new IllegalArgumentException("unknown flag " + argv[i]);
            }
        }
        if (write != null) {
            model(write, hidden, layers);
            System.out.println("wrote " + write);
            return;
        }
        Path file = given;
        if (file == null) {
            file = model(Files.createTempDirectory("tern-serve-load").resolve("load.tern"), hidden, layers);
            System.out.printf(Locale.ROOT, "model: random, hidden %d, %d layers, ffn %d, vocabulary 512%n", hidden, layers, hidden * 3);
        } else {
            System.out.println("model: " + file);
        }
        List<String> kinds = decoders.equals("both") ? List.of("batched", "per-sequence") : List.of(decoders);
        System.out.printf(Locale.ROOT, "%s kernels, %s activations, %d threads; %d tokens per request, greedy, streamed; %d clients, max batch %d%n",
                PackedMatmul.path(), activations.name().toLowerCase(Locale.ROOT), tern.simd.Parallel.THREADS, tokens, clients, clients);
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        for (String kind : kinds) {
            StepDecoder d = kind.equals("batched") ? BatchedDecoder.load(file, new CpuBackend(), "cpu", clients, activations)
                    : PerSequenceDecoder.load(file, clients, activations);
            try (CompletionServer s = CompletionServer.start(d, "load", new CompletionServer.Options("127.0.0.1", 0, 4 * clients, 256, 1 << 20, 1000),
                    ServeFixture.QUIET)) {
                URI url = URI.create("http://127.0.0.1:" + s.port() + "/v1/completions");
                round(http, url, clients, 1, tokens, 0);          // warm-up: JIT, caches
                round(http, url, 1, 2, tokens, 1);
                for (int r = 0; r < rounds; r++) {
                    String before = load();
                    Round one = round(http, url, 1, requests, tokens, 10 + r), many = round(http, url, clients, requests, tokens, 20 + r);
                    System.out.printf(Locale.ROOT, "%-12s round %d: 1 client %.1f tok/s (p50 %.2f ms, p99 %.2f ms per token) | %d clients %.1f tok/s (p50 %.2f, p99 %.2f ms) | ratio %.2fx | load %s -> %s%n",
                            kind, r, one.tokensPerSecond(), one.percentile(0.5), one.percentile(0.99), clients, many.tokensPerSecond(),
                            many.percentile(0.5), many.percentile(0.99), many.tokensPerSecond() / one.tokensPerSecond(), before, load());
                }
            }
        }
    }
}
