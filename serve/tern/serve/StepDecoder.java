package tern.serve;

import java.util.List;
import tern.model.LlamaConfig;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;

/**
 * The model as the server's scheduler sees it: sequences are opened, advanced together one token per
 * step, and closed, each at a step boundary (continuous batching). The scheduler is the only caller and
 * calls from one thread; an implementation need not be thread-safe. Every sequence samples with its own
 * options (greedy, or seeded temperature/top-k/top-p), so its tokens equal those of a lone generation.
 */
public interface StepDecoder extends AutoCloseable {

    /** One open sequence: its KV cache and sampler, owned by the decoder. */
    interface Sequence {}

    /**
     * What one step produced, index for index with the sequences given: {@code tokens[i]}, or the failure
     * that ended sequence i ({@code failures[i]} non-null; the others are unaffected).
     */
    record Step(int[] tokens, RuntimeException[] failures) {}

    LlamaConfig config();

    Tokenizer tokenizer();

    /** Where the steps run ("cpu", "cuda"), for logs and /v1/models. */
    String device();

    /** Sequences that may be open at once. */
    int maxBatch();

    /** Sequences opened and not yet closed (a leak shows here); may be read from any thread. */
    int openSequences();

    /**
     * Opens a sequence that will generate up to {@code maxNew} tokens after {@code prompt}; the prompt
     * runs (prefill) at the sequence's first step.
     *
     * @throws IllegalStateException when {@link #maxBatch()} sequences are already open
     */
    Sequence open(int[] prompt, int maxNew, SamplingOptions options);

    /** Advances every given sequence (all open, none twice) by one token. */
    Step step(List<Sequence> sequences);

    /** Frees a sequence, finished or not; closing one twice is harmless. */
    void close(Sequence sequence);

    @Override
    void close();
}
