package tern.eval;

import org.junit.jupiter.api.Test;
import tern.checkpoint.Json;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportTest {
    final TaskResult piqa = new TaskResult("piqa", 4, 1, List.of(new Metric("acc", 0.75, 0.25), new Metric("acc_norm", 1.0, 0.0)));
    final TaskResult one = new TaskResult("winogrande", 1, 0, List.of(new Metric("acc", 1.0, Double.NaN)));
    final PerplexityResult text = new PerplexityResult("a.txt", 1, 10, 40, 10 * Math.log(8), 2);

    @Test
    @SuppressWarnings("unchecked")
    void jsonHoldsCountsMetricsAndStderrs() {
        Map<String, Object> root = Json.parseObject(Report.json(Map.of("checkpoint", "x"), List.of(piqa, one), List.of(text)));
        assertEquals("x", root.get("checkpoint"));
        Map<String, Object> p = (Map<String, Object>) ((Map<String, Object>) root.get("tasks")).get("piqa");
        assertEquals(4L, p.get("items"));
        assertEquals(1L, p.get("truncated_requests"));
        assertEquals(0.75, (Double) p.get("acc"), 0);
        assertEquals(0.25, (Double) p.get("acc_stderr"), 0);
        Map<String, Object> w = (Map<String, Object>) ((Map<String, Object>) root.get("tasks")).get("winogrande");
        assertNull(w.get("acc_stderr"));          // NaN (one item) is written as null
        assertTrue(w.containsKey("acc_stderr"));
        Map<String, Object> t = (Map<String, Object>) ((Map<String, Object>) root.get("perplexity")).get("a.txt");
        assertEquals(8.0, (Double) t.get("token_perplexity"), 1e-12);   // exp(10·ln 8 / 10)
        assertEquals(0.75, (Double) t.get("bits_per_byte"), 1e-12);     // 10·3 bits / 40 bytes
    }

    @Test
    void tableShowsEveryMetricCountsAndTruncations() {
        String table = Report.table(List.of(piqa, one), List.of(text));
        assertTrue(table.contains("| piqa           |      4 | acc        |     0.7500 |     0.2500 |"), table);
        assertTrue(table.contains("|                |        | acc_norm   |     1.0000 |     0.0000 |"), table);
        assertTrue(table.contains("| winogrande     |      1 | acc        |     1.0000 |        n/a |"), table);
        assertTrue(table.contains("piqa: 1 requests left-truncated"), table);
        assertTrue(table.contains("| a.txt |         1 |        10 |         40 |        2 |       8.0000 |    0.7500 |"), table);
        assertTrue(Report.number(6.8e11).equals("6.8000e+11"));
    }
}
