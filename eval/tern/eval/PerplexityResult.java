package tern.eval;

/**
 * The perplexity of a text of {@code documents} documents: {@code nll} is the summed negative
 * log-likelihood (nats) of its {@code tokens} tokens, {@code bytes} their UTF-8 length.
 */
public record PerplexityResult(String name, int documents, long tokens, long bytes, double nll, int windows) {
    /** exp(mean NLL per token). */
    public double tokenPerplexity() { return Math.exp(nll / tokens); }

    /** Total NLL in bits over UTF-8 bytes: tokenizer-independent, comparable across vocabularies. */
    public double bitsPerByte() { return nll / Math.log(2) / bytes; }
}
