package tern.eval;

/**
 * One log-likelihood question in token ids: how likely is {@code continuation} right after {@code context}?
 * {@code where} names the item it came from (file and line), for error messages.
 */
public record Request(String where, int[] context, int[] continuation) {
    public Request {
        if (context.length == 0)
            throw new IllegalArgumentException(where + ": a request needs at least one context token "
                    + "(an empty text context is replaced by the end-of-text token before this point)");
        if (continuation.length == 0)
            throw new IllegalArgumentException(where + ": the continuation encodes to no tokens");
    }

    /** Context and continuation, one array. */
    public int[] whole() {
        int[] w = java.util.Arrays.copyOf(context, context.length + continuation.length);
        System.arraycopy(continuation, 0, w, context.length, continuation.length);
        return w;
    }
}
