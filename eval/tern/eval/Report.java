package tern.eval;

import tern.checkpoint.Json;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Evaluation results for people (a table like the harness's) and for programs (JSON). */
public final class Report {
    private Report() {}

    public static String table(List<TaskResult> tasks, List<PerplexityResult> texts) {
        StringBuilder sb = new StringBuilder();
        if (!tasks.isEmpty()) {
            sb.append(String.format(Locale.ROOT, "| %-14s | %6s | %-10s | %10s | %10s |%n", "task", "items", "metric", "value", "stderr"));
            sb.append("|----------------|--------|------------|------------|------------|\n");
            for (TaskResult t : tasks) {
                boolean first = true;
                for (Metric m : t.metrics()) {
                    sb.append(String.format(Locale.ROOT, "| %-14s | %6s | %-10s | %10s | %10s |%n",
                            first ? t.task() : "", first ? Integer.toString(t.items()) : "", m.name(), number(m.value()),
                            Double.isNaN(m.stderr()) ? "n/a" : number(m.stderr())));
                    first = false;
                }
            }
            for (TaskResult t : tasks)
                if (t.truncatedRequests() > 0)
                    sb.append(String.format(Locale.ROOT, "%s: %d requests left-truncated to the model's window%n",
                            t.task(), t.truncatedRequests()));
        }
        if (!texts.isEmpty()) {
            if (!sb.isEmpty()) sb.append('\n');
            int w = Math.max(4, texts.stream().mapToInt(p -> p.name().length()).max().orElse(4));
            String row = "| %-" + w + "s | %9s | %9s | %10s | %8s | %12s | %9s |%n";
            sb.append(String.format(Locale.ROOT, row, "text", "documents", "tokens", "bytes", "windows", "token ppl", "bits/byte"));
            sb.append("|").append("-".repeat(w + 2)).append("|-----------|-----------|------------|----------|--------------|-----------|\n");
            for (PerplexityResult p : texts)
                sb.append(String.format(Locale.ROOT, row, p.name(), p.documents(), p.tokens(), p.bytes(), p.windows(),
                        number(p.tokenPerplexity()), String.format(Locale.ROOT, "%.4f", p.bitsPerByte())));
        }
        return sb.toString();
    }

    /** Four decimals, or four significant digits in scientific notation for large values (untrained perplexities). */
    static String number(double v) {
        return Math.abs(v) >= 1e5 ? String.format(Locale.ROOT, "%.4e", v) : String.format(Locale.ROOT, "%.4f", v);
    }

    /** JSON: per task its item count, truncations, each metric and its stderr; per text its perplexity. */
    public static String json(Map<String, Object> header, List<TaskResult> tasks, List<PerplexityResult> texts) {
        Map<String, Object> root = new LinkedHashMap<>(header);
        Map<String, Object> byTask = new LinkedHashMap<>();
        for (TaskResult t : tasks) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("items", t.items());
            m.put("truncated_requests", t.truncatedRequests());
            for (Metric metric : t.metrics()) {
                m.put(metric.name(), metric.value());
                m.put(metric.name() + "_stderr", Double.isNaN(metric.stderr()) ? null : metric.stderr());
            }
            byTask.put(t.task(), m);
        }
        root.put("tasks", byTask);
        Map<String, Object> byText = new LinkedHashMap<>();
        for (PerplexityResult p : texts) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("documents", p.documents());
            m.put("tokens", p.tokens());
            m.put("bytes", p.bytes());
            m.put("windows", p.windows());
            m.put("nll_nats", p.nll());
            m.put("token_perplexity", p.tokenPerplexity());
            m.put("bits_per_byte", p.bitsPerByte());
            byText.put(p.name(), m);
        }
        root.put("perplexity", byText);
        return Json.pretty(root);
    }
}
