package tern.model;

/**
 * How the next token is chosen from the logits.
 *
 * @param temperature 0 = greedy (argmax); otherwise logits are divided by it before the softmax
 * @param topK        keep only the k most likely tokens; 0 = all
 * @param topP        nucleus: keep the most likely tokens whose probabilities sum to at least p; 1 = all
 * @param seed        the sampler's seed (same seed, same model, same prompt → same text)
 * @param stopToken   generation ends after this token is produced; −1 = never
 */
public record SamplingOptions(float temperature, int topK, float topP, long seed, int stopToken) {
    public SamplingOptions {
        if (!(temperature >= 0f) || Float.isInfinite(temperature))
            throw new IllegalArgumentException("temperature must be a finite number ≥ 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("topK must be ≥ 0 (0 = off), got " + topK);
        if (!(topP > 0f && topP <= 1f)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        if (stopToken < -1) throw new IllegalArgumentException("stopToken must be a token id or −1, got " + stopToken);
    }

    public static SamplingOptions greedy() { return new SamplingOptions(0f, 0, 1f, 0L, -1); }

    public static SamplingOptions sample(float temperature, int topK, float topP, long seed) {
        return new SamplingOptions(temperature, topK, topP, seed, -1);
    }

    public SamplingOptions withStopToken(int token) { return new SamplingOptions(temperature, topK, topP, seed, token); }

    public boolean isGreedy() { return temperature == 0f; }
}
