package tern.serve;

import java.util.List;
import java.util.function.BooleanSupplier;
import tern.model.LlamaConfig;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;

/**
 * A decoder whose first step waits (10 s at most) until {@link #until} holds, e.g. until the concurrent
 * requests of a test are all queued, so that on a fast or a loaded machine alike they share steps
 * instead of the first finishing before the others arrive. Everything else goes to the decoder inside.
 */
public final class GatheringDecoder implements StepDecoder {
    private final StepDecoder inner;
    private volatile BooleanSupplier until = () -> true;
    private volatile boolean started;

    public GatheringDecoder(StepDecoder inner) { this.inner = inner; }

    /** The condition the first step waits for. */
    public void until(BooleanSupplier condition) {
        until = condition;
        started = false;
    }

    @Override public LlamaConfig config() { return inner.config(); }
    @Override public Tokenizer tokenizer() { return inner.tokenizer(); }
    @Override public String device() { return inner.device(); }
    @Override public int maxBatch() { return inner.maxBatch(); }
    @Override public int openSequences() { return inner.openSequences(); }
    @Override public Sequence open(int[] prompt, int maxNew, SamplingOptions options) { return inner.open(prompt, maxNew, options); }
    @Override public void close(Sequence sequence) { inner.close(sequence); }
    @Override public void close() { inner.close(); }

    @Override
    public Step step(List<Sequence> sequences) {
        if (!started) {
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!until.getAsBoolean() && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            started = true;
        }
        return inner.step(sequences);
    }
}
