package tern.eval;

import java.util.List;

/**
 * A task's outcome: how many items were evaluated, how many requests had their context left-truncated to
 * fit the model's window, and the metrics in the harness's order.
 */
public record TaskResult(String task, int items, int truncatedRequests, List<Metric> metrics) {
    public TaskResult { metrics = List.copyOf(metrics); }

    public Metric metric(String name) {
        return metrics.stream().filter(m -> m.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(task + " has no metric " + name));
    }
}
