package tern.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Token-level perplexity of one long text with a sliding window. The token sequence is prefixed with the
 * end-of-text token (so the first text token is scored too, as the harness's rolling windows do), then
 * windows of {@code context} tokens end every {@code stride} tokens: window i ends at
 * e_i = min(context + i·stride, n) and starts at max(0, e_i − context). Each window scores only the targets
 * after the previous window's end, so every token is scored exactly once, with at least
 * context − stride tokens of left context (all there is near the start), and the last window is full.
 */
public final class SlidingWindowPerplexity {
    private SlidingWindowPerplexity() {}

    /** The windows as log-likelihood requests over {@code prefix + tokens}. */
    public static List<Request> requests(String where, int prefix, int[] tokens, int context, int stride) {
        if (context < 1) throw new IllegalArgumentException("--context must be at least 1, not " + context);
        if (stride < 1 || stride > context)
            throw new IllegalArgumentException("--stride must be in 1.." + context + " (the context), not " + stride
                    + ": a larger stride would leave tokens unscored");
        if (tokens.length == 0) throw new IllegalArgumentException(where + ": no tokens to score");
        int[] all = new int[tokens.length + 1];
        all[0] = prefix;
        System.arraycopy(tokens, 0, all, 1, tokens.length);
        int n = tokens.length;   // targets are all[1..n]; a window of inputs all[b..e-1] predicts all[b+1..e]
        List<Request> out = new ArrayList<>();
        int scored = 0;          // targets all[1..scored] are done
        for (int i = 0; scored < n; i++) {
            int end = (int) Math.min((long) context + (long) i * stride, n);
            int begin = Math.max(0, end - context);
            int[] ctx = java.util.Arrays.copyOfRange(all, begin, scored + 1);
            int[] cont = java.util.Arrays.copyOfRange(all, scored + 1, end + 1);
            out.add(new Request(where + " window " + i, ctx, cont));
            scored = end;
        }
        return out;
    }

    /** Scores a text as one document: total negative log-likelihood, token count, UTF-8 byte count. */
    public static PerplexityResult evaluate(String name, String text, TextEncoder encoder, LogLikelihood scorer,
                                            int context, int stride) {
        return evaluate(name, List.of(text), encoder, scorer, context, stride);
    }

    /**
     * Scores documents, each on its own: each starts after the end-of-text token and its windows never
     * reach into another document (how the harness scores a corpus of documents, and how the trainer's
     * shards separate them). All windows go to the scorer in one call, so they batch together.
     */
    public static PerplexityResult evaluate(String name, List<String> documents, TextEncoder encoder, LogLikelihood scorer,
                                            int context, int stride) {
        int prefix = encoder.endOfText();
        if (prefix < 0) throw new IllegalArgumentException(name + ": the tokenizer has no end-of-text token to start the text with");
        if (documents.isEmpty()) throw new IllegalArgumentException(name + ": no documents to score");
        List<Request> requests = new ArrayList<>();
        long tokens = 0, bytes = 0;
        for (int d = 0; d < documents.size(); d++) {
            int[] ids = encoder.encode(documents.get(d));
            String where = documents.size() == 1 ? name : name + " document " + (d + 1);
            requests.addAll(requests(where, prefix, ids, context, stride));
            tokens += ids.length;
            bytes += documents.get(d).getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        }
        double nll = 0;
        for (Score s : scorer.score(requests)) nll -= s.logLikelihood();
        return new PerplexityResult(name, documents.size(), tokens, bytes, nll, requests.size());
    }

    /** A line end followed by one or more whitespace-only lines: what separates paragraphs. */
    private static final java.util.regex.Pattern PARAGRAPH_BREAK = java.util.regex.Pattern.compile("\\r?\\n(?:[ \\t\\f\\u000B\\r]*\\n)+");

    /**
     * The blank-line-separated paragraphs of a text, as tern.train.Prepare cuts documents for training
     * (separator lines dropped, trailing whitespace at the end dropped); paragraphs with no characters
     * left hold nothing to score and are not returned.
     */
    public static List<String> paragraphs(String text) {
        List<String> out = new ArrayList<>();
        for (String p : PARAGRAPH_BREAK.split(text.stripTrailing(), -1))
            if (!p.isEmpty()) out.add(p);
        return out;
    }
}
