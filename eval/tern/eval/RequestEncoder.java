package tern.eval;

import java.util.Arrays;

/**
 * Turns a (context, continuation) text pair into token ids the way lm-evaluation-harness 0.4 does
 * (lm_eval/api/model.py TemplateLM.loglikelihood and _encode_pair):
 * <ul>
 *   <li>an empty context becomes the single end-of-text token, and the continuation is encoded alone;</li>
 *   <li>otherwise trailing whitespace of the context moves to the front of the continuation, then
 *       context+continuation is encoded as one string and the continuation tokens are the ones after the
 *       first len(encode(context)) tokens. Encoding the whole string keeps the tokenizer's merges across the
 *       boundary exactly as the model saw such text in training.</li>
 * </ul>
 */
public final class RequestEncoder {
    private final TextEncoder encoder;

    public RequestEncoder(TextEncoder encoder) { this.encoder = encoder; }

    public Request encode(String where, String context, String continuation) {
        if (context.isEmpty()) {
            int eot = encoder.endOfText();
            if (eot < 0)
                throw new IllegalArgumentException(where + ": the context is empty and the tokenizer has no "
                        + "end-of-text token to stand in for it");
            return new Request(where, new int[] {eot}, encoder.encode(continuation));
        }
        String ctx = PyText.rstrip(context);
        String cont = context.substring(ctx.length()) + continuation;
        if (ctx.isEmpty()) {
            // The context was whitespace only: the harness encodes "" and gets no context tokens, which our
            // Request forbids; treat it like an empty context (end-of-text) and keep the whitespace.
            return encode(where, "", cont);
        }
        int[] whole = encoder.encode(ctx + cont);
        int[] contextIds = encoder.encode(ctx);
        int[] continuationIds = Arrays.copyOfRange(whole, Math.min(contextIds.length, whole.length), whole.length);
        if (continuationIds.length == 0)
            throw new IllegalArgumentException(where + ": the continuation '" + continuation
                    + "' adds no tokens after the context");
        return new Request(where, contextIds, continuationIds);
    }
}
