package tern.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import tern.model.LlamaConfig;
import tern.serve.BatchedDecoder;
import tern.serve.CompletionServer;
import tern.serve.PerSequenceDecoder;
import tern.serve.StepDecoder;
import tern.simd.PackedMatmul;

/** {@code tern serve --model FILE}: OpenAI-style completions over HTTP, continuous batching, clean stop on SIGTERM. */
final class ServeCommand {
    private ServeCommand() {}

    static final String USAGE = """
            usage: tern serve --model FILE [--device cpu|cuda] [--host ADDR] [--port N] [--max-batch B] [--queue Q]
                              [--max-tokens-cap N] [--grace S] [--name ID] [--activations float|int8] [--decoder D]
              --model FILE        a packed model (tern pack), with its tokenizer
              --device cpu|cuda   where decode steps run                                              [cpu]
              --host ADDR         address to listen on (0.0.0.0 exposes the server to the network)   [127.0.0.1]
              --port N            TCP port, 0 = any free one                                          [8080]
              --max-batch B       completions decoded together; more wait in the queue                [8]
              --queue Q           completions waiting for a slot; beyond it requests get 429          [4 × B]
              --max-tokens-cap N  the largest max_tokens a request may ask for                        [the context]
              --grace S           on SIGTERM/SIGINT, seconds running completions may go on            [10]
              --name ID           the model id in /v1/models and responses                            [file name]
              --activations A     float (as trained) or int8 (BitNet-style absmax; CPU only)          [float]
              --decoder D         batched: one batched forward per step for all active completions;
                                  per-sequence: one generation per completion, interleaved (to compare)    [batched]

            endpoints: POST /v1/completions (OpenAI completions: prompt, max_tokens, temperature, top_p, top_k,
            seed, stop, stream as server-sent events), GET /v1/models, GET /health (slots, queue, counters).
            Unknown request fields are refused with 400; see README "Serving".""";

    static int run(String[] argv) throws IOException, InterruptedException {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("serve", argv, Set.of("model", "device", "host", "port", "max-batch", "queue", "max-tokens-cap",
                "grace", "name", "activations", "decoder"), Set.of());
        Path file = Path.of(args.required("model"));
        String device = args.string("device", "cpu");
        if (!device.equals("cpu") && !device.equals("cuda")) throw new UsageException("--device must be cpu or cuda, got '" + device + "'");
        String decoderKind = args.string("decoder", "batched");
        if (!decoderKind.equals("batched") && !decoderKind.equals("per-sequence"))
            throw new UsageException("--decoder must be batched or per-sequence, got '" + decoderKind + "'");
        if (decoderKind.equals("per-sequence") && !device.equals("cpu")) throw new UsageException("--decoder per-sequence runs on the CPU only");
        int maxBatch = positive(args, "max-batch", 8);
        int queue = positive(args, "queue", 4 * maxBatch);
        int port = args.intValue("port", 8080);
        if (port < 0 || port > 65535) throw new UsageException("--port must be in 0..65535, got " + port);
        double grace = args.doubleValue("grace", 10);
        if (grace < 0) throw new UsageException("--grace must be ≥ 0 seconds, got " + grace);
        PackedMatmul.Activations activations = PackedGenerateCommand.activations(args);
        if (!Files.isRegularFile(file)) throw new UsageException("--model " + file + ": no such file");
        if (activations != PackedMatmul.Activations.FLOAT && !device.equals("cpu"))
            throw new UsageException("--activations int8 is a CPU kernel option; --device " + device + " multiplies float activations");
        String name = args.string("name", file.getFileName().toString().replaceFirst("\\.tern$", ""));
        // A client that opens a connection and never finishes its request is dropped after this (seconds).
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) System.setProperty("sun.net.httpserver.maxReqTime", "30");

        long t0 = System.nanoTime();
        StepDecoder decoder = decoderKind.equals("batched")
                ? BatchedDecoder.load(file, Devices.open(device), device, maxBatch, activations)
                : PerSequenceDecoder.load(file, maxBatch, activations);
        LlamaConfig c = decoder.config();
        int cap = args.intValue("max-tokens-cap", c.contextLength());
        if (cap < 1) throw new UsageException("--max-tokens-cap must be ≥ 1, got " + cap);
        CompletionServer server;
        try {
            server = CompletionServer.start(decoder, name, new CompletionServer.Options(args.string("host", "127.0.0.1"), port, queue, cap,
                    1 << 20, Math.round(grace * 1000)), System.err);
        } catch (IOException | RuntimeException e) {
            decoder.close();
            throw e;
        }
        System.err.printf(Locale.ROOT, "tern serve: model %s (%s: %d layers, hidden %d, vocabulary %d, context %d, %s activations), loaded in %.2f s%n",
                name, file, c.layers(), c.hidden(), c.vocabSize(), c.contextLength(), activations.name().toLowerCase(Locale.ROOT), (System.nanoTime() - t0) / 1e9);
        System.err.printf(Locale.ROOT, "tern serve: device %s%s, %s decoder, max batch %d, queue %d, max_tokens cap %d%n",
                decoder.device(), device.equals("cpu") ? " (" + PackedMatmul.path() + " kernels)" : "", decoderKind, maxBatch, queue, cap);
        System.err.printf(Locale.ROOT, "tern serve: listening on http://%s:%d (POST /v1/completions, GET /v1/models, GET /health); SIGTERM or Ctrl-C stops%n",
                args.string("host", "127.0.0.1"), server.port());

        CountDownLatch stop = new CountDownLatch(1);
        StopSignals.install(stop::countDown);
        stop.await();
        System.err.printf(Locale.ROOT, "tern serve: stopping (running completions get %.0f s to finish)%n", grace);
        server.shutdown();
        System.err.println("tern serve: stopped");
        return 0;
    }

    private static int positive(Args args, String name, int fallback) {
        int v = args.intValue(name, fallback);
        if (v < 1) throw new UsageException("--" + name + " must be ≥ 1, got " + v);
        return v;
    }
}
