package tern.eval;

import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Tape;
import tern.runtime.Tensor;
import tern.runtime.Var;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Scores requests with a {@link CausalLm}, as lm-evaluation-harness's HFLM._loglikelihood_tokens does:
 * the model reads (context + continuation)[−(L+1):][:−1] (left truncation to its window L), and the
 * continuation's log-probabilities are read at the last len(continuation) positions.
 *
 * <p>A continuation longer than the window (the harness asserts it never is; tiny models with short
 * windows meet it on PIQA) is scored in consecutive pieces of at most L/2 tokens, each piece a request
 * whose context is everything before it: every continuation token is still scored exactly once, with at
 * least L/2 tokens of left context, and the pieces' log-likelihoods add up (greedy = every piece greedy).
 *
 * <p>Batching: requests are sorted by length, longest first (the harness's order), and packed into batches
 * of at most {@code tokensPerBatch} padded tokens; shorter rows are padded on the right, which causal
 * attention makes invisible to the positions that are read. The choices of one item share their context,
 * so they have nearly equal lengths and usually land in the same batch (there is no KV-cache reuse of the
 * shared context: the model's cached decoding returns only the last position's logits). Only the logits rows that are read are
 * gathered on the device ({@link Backend#embedding} used as a row gather) and brought to the host, where
 * log-softmax runs in double.
 */
public final class ModelScorer implements LogLikelihood {
    private final CausalLm model;
    private final int tokensPerBatch;

    public ModelScorer(CausalLm model, int tokensPerBatch) {
        if (tokensPerBatch < 1) throw new IllegalArgumentException("tokens per batch must be positive, not " + tokensPerBatch);
        this.model = model;
        this.tokensPerBatch = tokensPerBatch;
    }

    /** The ids the model reads for a request: the harness's left truncation to the window. */
    static int[] modelInput(Request r, int window) {
        int[] whole = r.whole();
        if (r.continuation().length > window)
            throw new IllegalArgumentException(r.where() + ": continuation of " + r.continuation().length
                    + " tokens does not fit the model's window of " + window);
        int from = Math.max(0, whole.length - 1 - window);
        return Arrays.copyOfRange(whole, from, whole.length - 1);
    }

    /** A request as pieces that each fit the window: itself when its continuation fits, else chunks of L/2. */
    static List<Request> pieces(Request r, int window) {
        int[] cont = r.continuation();
        if (cont.length <= window) return List.of(r);
        int chunk = Math.max(1, window / 2);
        int[] whole = r.whole();
        List<Request> out = new ArrayList<>();
        for (int from = 0; from < cont.length; from += chunk) {
            int to = Math.min(cont.length, from + chunk);
            int at = r.context().length + from;
            out.add(new Request(r.where(), Arrays.copyOfRange(whole, 0, at), Arrays.copyOfRange(whole, at, r.context().length + to)));
        }
        return out;
    }

    @Override
    public List<Score> score(List<Request> requests) {
        int window = model.contextLength();
        List<Request> pieces = new ArrayList<>();
        int[] pieceCount = new int[requests.size()];
        for (int i = 0; i < requests.size(); i++) {
            List<Request> p = pieces(requests.get(i), window);
            pieceCount[i] = p.size();
            pieces.addAll(p);
        }
        List<Score> scored = scoreFitting(pieces, window);
        if (pieces.size() == requests.size()) return scored;
        List<Score> out = new ArrayList<>(requests.size());
        int next = 0;
        for (int count : pieceCount) {
            double ll = 0;
            boolean greedy = true;
            for (int j = 0; j < count; j++, next++) {
                ll += scored.get(next).logLikelihood();
                greedy &= scored.get(next).greedy();
            }
            out.add(new Score(ll, greedy));
        }
        return out;
    }

    /** Scores requests whose continuations fit the window. */
    private List<Score> scoreFitting(List<Request> requests, int window) {
        int[][] inputs = new int[requests.size()][];
        for (int i = 0; i < inputs.length; i++) inputs[i] = modelInput(requests.get(i), window);
        Integer[] order = new Integer[inputs.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> -inputs[i].length));   // stable: ties keep request order

        int[] sorted = toInts(order);
        Score[] scores = new Score[inputs.length];
        int start = 0;
        while (start < order.length) {
            int seq = inputs[order[start]].length;   // the longest row of the batch comes first
            int rows = Math.max(1, Math.min(order.length - start, tokensPerBatch / seq));
            int[] batch = Arrays.copyOfRange(sorted, start, start + rows);
            scoreBatch(requests, inputs, batch, seq, scores);
            start += rows;
        }
        return List.of(scores);
    }

    private void scoreBatch(List<Request> requests, int[][] inputs, int[] batch, int seq, Score[] out) {
        int[] ids = new int[batch.length * seq];   // right padding with id 0: never seen by the rows read
        List<Integer> readRows = new ArrayList<>();
        for (int b = 0; b < batch.length; b++) {
            int[] in = inputs[batch[b]];
            System.arraycopy(in, 0, ids, b * seq, in.length);
            int k = requests.get(batch[b]).continuation().length;
            for (int p = in.length - k; p < in.length; p++) readRows.add(b * seq + p);
        }
        int[] rows = readRows.stream().mapToInt(Integer::intValue).toArray();
        Backend backend = model.backend();
        float[] picked;
        try (Tape tape = new Tape(backend, false)) {
            Var logits = model.logits(tape, ids, batch.length, seq);
            Tensor gathered = tape.own(backend.zeros(DType.F32, rows.length, logits.cols()));
            backend.embedding(logits.value, rows, gathered);
            picked = backend.download(gathered);
        }
        int vocab = picked.length / Math.max(1, rows.length);
        int r = 0;
        for (int b = 0; b < batch.length; b++) {
            int[] cont = requests.get(batch[b]).continuation();
            double sum = 0;
            boolean greedy = true;
            for (int j = 0; j < cont.length; j++, r++) {
                int target = cont[j];
                if (target < 0 || target >= vocab)
                    throw new IllegalArgumentException(requests.get(batch[b]).where() + ": token id " + target
                            + " outside the vocabulary of " + vocab);
                sum += LogSoftmax.logProb(picked, r * vocab, vocab, target);
                greedy &= LogSoftmax.argmax(picked, r * vocab, vocab) == target;
            }
            out[batch[b]] = new Score(sum, greedy);
        }
    }

    private static int[] toInts(Integer[] xs) {
        int[] out = new int[xs.length];
        for (int i = 0; i < xs.length; i++) out[i] = xs[i];
        return out;
    }
}
