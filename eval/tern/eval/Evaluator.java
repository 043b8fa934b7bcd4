package tern.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Scores a task's items with a {@link LogLikelihood} and aggregates the harness's metrics. All requests of
 * a task go to the scorer in one call so it can batch them freely.
 */
public final class Evaluator {
    /** Resamples for the bootstrap standard error of LAMBADA's perplexity. */
    static final int BOOTSTRAP_RESAMPLES = 1000;
    private static final long BOOTSTRAP_SEED = 1234;

    private final LogLikelihood scorer;
    private final RequestEncoder encoder;
    private final int contextLimit;

    /** {@code contextLimit}: the model's window in tokens, only to count left-truncated requests. */
    public Evaluator(LogLikelihood scorer, RequestEncoder encoder, int contextLimit) {
        this.scorer = scorer;
        this.encoder = encoder;
        this.contextLimit = contextLimit;
    }

    public TaskResult run(String name, Task.Metrics kind, List<Item> items) {
        if (items.isEmpty()) throw new IllegalArgumentException("task " + name + ": no items to evaluate");
        List<Request> requests = new ArrayList<>();
        int truncated = 0;
        for (Item item : items)
            for (TextPair option : item.options()) {
                Request r = encoder.encode(item.where(), option.context(), option.continuation());
                if (r.context().length + r.continuation().length - 1 > contextLimit) truncated++;
                requests.add(r);
            }
        List<Score> scores = scorer.score(requests);
        if (scores.size() != requests.size())
            throw new IllegalStateException("scorer answered " + scores.size() + " of " + requests.size() + " requests");
        return new TaskResult(name, items.size(), truncated, metrics(kind, items, scores));
    }

    /** The metrics of scored items; {@code scores} holds each item's options in order, item after item. */
    static List<Metric> metrics(Task.Metrics kind, List<Item> items, List<Score> scores) {
        int n = items.size();
        double[] acc = new double[n], accNorm = new double[n], ll = new double[n];
        int next = 0;
        for (int i = 0; i < n; i++) {
            Item item = items.get(i);
            int k = item.options().size();
            double[] lls = new double[k], normed = new double[k];
            boolean allGreedy = true;
            for (int c = 0; c < k; c++) {
                Score s = scores.get(next++);
                lls[c] = s.logLikelihood();
                normed[c] = s.logLikelihood() / PyText.length(item.choices().get(c));
                allGreedy &= s.greedy();
            }
            acc[i] = kind == Task.Metrics.GREEDY_AND_PERPLEXITY ? (allGreedy ? 1 : 0) : (Stats.argmax(lls) == item.gold() ? 1 : 0);
            accNorm[i] = Stats.argmax(normed) == item.gold() ? 1 : 0;
            ll[i] = lls[item.gold()];
        }
        List<Metric> out = new ArrayList<>();
        out.add(new Metric("acc", Stats.mean(acc), Stats.meanStderr(acc)));
        switch (kind) {
            case ACC_AND_NORM -> out.add(new Metric("acc_norm", Stats.mean(accNorm), Stats.meanStderr(accNorm)));
            case GREEDY_AND_PERPLEXITY -> out.add(new Metric("perplexity", Stats.perplexity(ll),
                    Stats.bootstrapStderr(ll, Stats::perplexity, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)));
            case ACC -> { }
        }
        return out;
    }
}
