package tern.eval;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import tern.checkpoint.Json;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.train.TrainCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tern's evaluation against PyTorch + transformers (tools/reference/eval_golden.py, run on the GPU machine
 * on the CPU in float32): the golden tiny LlamaForCausalLM (src/test/resources/golden/float), 50 items of
 * every task format (src/test/resources/eval/golden/items) and the byte tokenizer (id = byte % vocab).
 * The Python side builds the prompts with its own implementation of the harness's templates, so this
 * checks prompts, the context/continuation split, left truncation to the 64-token window, batching and the
 * log-likelihoods (to 1e-3), the greedy flags, the metrics, and the sliding-window perplexity. The same
 * checks run on every backend: {@link EvalGoldenTest} (CPU) and {@link EvalGoldenCudaTest} (GPU).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class EvalGoldenCheck {
    static final Path ITEMS = Path.of("src/test/resources/eval/golden/items");
    static final Path GOLDEN = Path.of("src/test/resources/eval/golden/eval_golden.json");
    static final double LL_TOLERANCE = 1e-3;
    /** Greedy flags are compared only where the top two logits differ by more than this (no near ties). */
    static final double GREEDY_MARGIN = 1e-3;

    Backend backend;
    LlamaModel model;
    Map<String, Object> golden;
    TextEncoder encoder;
    LlamaLm lm;

    /** The backend under test (a test may skip itself here when the device is missing). */
    abstract Backend newBackend();

    @BeforeAll
    void load() throws Exception {
        backend = newBackend();
        model = TrainCheckpoint.loadModel(Path.of("src/test/resources/golden/float"), backend);
        golden = Json.parseObject(Files.readString(GOLDEN));
        int vocab = ((Number) golden.get("vocab")).intValue();
        assertEquals(model.config().vocabSize(), vocab);
        assertEquals(model.config().contextLength(), ((Number) golden.get("window")).intValue());
        encoder = TextEncoder.bytes(vocab);
        lm = new LlamaLm(model);
    }

    @AfterAll
    void close() {
        if (model != null) model.close();
        if (backend == null) return;
        backend.close();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) { return (Map<String, Object>) o; }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) { return (List<Object>) o; }

    static double num(Object o) { return ((Number) o).doubleValue(); }

    @Test
    void everyTaskMatchesTheReference() throws Exception {
        Map<String, Object> tasks = map(golden.get("tasks"));
        assertEquals(List.of("lambada", "piqa", "hellaswag", "arc_easy", "arc_challenge", "sciq", "winogrande"),
                List.copyOf(tasks.keySet()));
        int truncatedSeen = 0;
        for (Map.Entry<String, Object> e : tasks.entrySet()) {
            Task task = Tasks.parse(e.getKey()).getFirst();
            List<Item> items = task.load(ITEMS);
            List<Object> want = list(map(e.getValue()).get("items"));
            assertEquals(want.size(), items.size(), e.getKey() + " item count");
            assertEquals(50, items.size());

            List<Request> requests = new ArrayList<>();
            RequestEncoder re = new RequestEncoder(encoder);
            for (int i = 0; i < items.size(); i++) {
                Item item = items.get(i);
                Map<String, Object> w = map(want.get(i));
                assertEquals(((Number) w.get("gold")).intValue(), item.gold(), item.where() + " gold");
                List<Object> options = list(w.get("options"));
                assertEquals(options.size(), item.options().size(), item.where() + " options");
                for (int c = 0; c < options.size(); c++) {
                    Map<String, Object> o = map(options.get(c));
                    assertEquals(o.get("context"), item.options().get(c).context(), item.where() + " context " + c);
                    assertEquals(o.get("continuation"), item.options().get(c).continuation(), item.where() + " continuation " + c);
                    Request r = re.encode(item.where(), item.options().get(c).context(), item.options().get(c).continuation());
                    if (r.context().length + r.continuation().length - 1 > lm.contextLength()) truncatedSeen++;
                    requests.add(r);
                }
            }
            // A small batch budget so the 64-token rows come in several batches of mixed lengths.
            List<Score> scores = new ModelScorer(lm, 700).score(requests);
            // tern eval's default task scorer (each shared context decoded once, KV-cached) must agree too.
            List<Score> prefixScores = new PrefixCachedScorer(model, 700).score(requests);
            int k = 0;
            for (int i = 0; i < items.size(); i++)
                for (Object oo : list(map(want.get(i)).get("options"))) {
                    Map<String, Object> o = map(oo);
                    Score s = scores.get(k++);
                    String at = items.get(i).where() + " option " + (k - 1);
                    assertEquals(num(o.get("ll")), s.logLikelihood(), LL_TOLERANCE, at);
                    if (num(o.get("margin")) > GREEDY_MARGIN) assertEquals(o.get("greedy"), s.greedy(), at + " greedy");
                    Score p = prefixScores.get(k - 1);
                    assertEquals(num(o.get("ll")), p.logLikelihood(), LL_TOLERANCE, at + " (prefix-cached)");
                    if (num(o.get("margin")) > GREEDY_MARGIN) assertEquals(o.get("greedy"), p.greedy(), at + " greedy (prefix-cached)");
                }

            // The metrics from these scores (the Evaluator's aggregation, without scoring everything twice).
            List<Metric> got = Evaluator.metrics(task.metrics(), items, scores);
            Map<String, Object> metrics = map(map(e.getValue()).get("metrics"));
            for (Metric m : got) {
                double expected = num(metrics.get(m.name()));
                assertEquals(expected, m.value(), m.name().equals("perplexity") ? 1e-4 * expected : 1e-12, e.getKey() + " " + m.name());
                Object se = metrics.get(m.name() + "_stderr");
                if (se != null) assertEquals(num(se), m.stderr(), 1e-12, e.getKey() + " " + m.name() + " stderr");
            }
            assertEquals(metrics.keySet().stream().filter(n -> !n.endsWith("_stderr")).toList(),
                    got.stream().map(Metric::name).toList(), e.getKey() + " metric names");
        }
        assertTrue(truncatedSeen > 0, "the golden items should exercise left truncation");
    }

    @Test
    void slidingWindowPerplexityMatchesWindowByWindow() throws Exception {
        Map<String, Object> p = map(golden.get("perplexity"));
        String text = Files.readString(ITEMS.resolve((String) p.get("file")));
        int context = ((Number) p.get("context")).intValue(), stride = ((Number) p.get("stride")).intValue();
        List<Request> windows = SlidingWindowPerplexity.requests("text", encoder.endOfText(), encoder.encode(text), context, stride);
        List<Object> want = list(p.get("window_nll"));
        assertEquals(want.size(), windows.size());
        List<Score> scores = new ModelScorer(lm, 1024).score(windows);
        for (int i = 0; i < windows.size(); i++)
            assertEquals(num(want.get(i)), -scores.get(i).logLikelihood(), LL_TOLERANCE, "window " + i);
        LogLikelihood replay = requests -> scores;   // evaluate() builds the same windows; check its sums and counts
        PerplexityResult r = SlidingWindowPerplexity.evaluate("text", text, encoder, replay, context, stride);
        assertEquals(((Number) p.get("tokens")).intValue(), r.tokens());
        assertEquals(((Number) p.get("bytes")).longValue(), r.bytes());
        assertEquals(num(p.get("nll")), r.nll(), 1e-6 * num(p.get("nll")));
    }
}
