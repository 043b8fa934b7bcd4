package tern.model;

/**
 * A prompt made ready to generate from: its tokens, how many new tokens fit in the context (at most the
 * caller's maximum), and the sampling options with the tokenizer's {@code <|endoftext|>} as stop token.
 * The one place that turns a text prompt into generation arguments, for every way Tern generates.
 */
public record GenerationRequest(int[] ids, int budget, SamplingOptions options, int endOfText) {

    /**
     * @throws IllegalArgumentException when the prompt encodes to no tokens or fills the whole context
     */
    public static GenerationRequest of(Tokenizer tokenizer, String prompt, int contextLength, int maxTokens,
                                       SamplingOptions options) {
        int[] ids = tokenizer.encode(prompt);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens: give some text");
        if (ids.length >= contextLength)
            throw new IllegalArgumentException("the prompt is " + ids.length + " tokens; the model's context is " + contextLength);
        int eot = tokenizer.endOfText();
        return new GenerationRequest(ids, Math.min(maxTokens, contextLength - ids.length),
                eot >= 0 ? options.withStopToken(eot) : options, eot);
    }

    /** Whether a generated token is text to show (the stop token is not). */
    public boolean isText(int token) { return token != endOfText; }
}
