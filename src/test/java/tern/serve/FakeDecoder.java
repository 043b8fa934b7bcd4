package tern.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import tern.model.BpeTrainer;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.Precision;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;

/**
 * A {@link StepDecoder} without a model, for the scheduler's tests: sequence k emits the letters of
 * "abcdefgh…" shifted by k, one per step; its steps can be held at a gate (one permit per step) and
 * every step's batch is recorded. A prompt that starts with the token for "!" fails at its first step.
 */
final class FakeDecoder implements StepDecoder {
    static final Tokenizer TOKENIZER = BpeTrainer.train(ServeFixture.text(1, 300) + " ! abcdefghijklmnopqrstuvwxyz", 270);
    private final LlamaConfig config = new LlamaConfig(TOKENIZER.vocabSize(), 16, 32, 1, 2, 64, 1e-5f, 10000f, 1,
            Precision.of(new LinearPolicy.Ternary(1)));
    private final int maxBatch;
    private final List<Seq> open = new ArrayList<>();
    private volatile int openCount;
    private int next;
    private volatile boolean gated, closed;
    private final Semaphore permits = new Semaphore(0);
    /** The ids of the sequences in each step, in order. */
    final List<List<Integer>> batches = new CopyOnWriteArrayList<>();

    private record Seq(int id, int[] prompt) implements Sequence {}

    FakeDecoder(int maxBatch) { this.maxBatch = maxBatch; }

    /** From now on each step waits for a {@link #release}d permit. */
    void hold() { gated = true; }

    void release(int steps) { permits.release(steps); }

    void openGate() { gated = false; permits.release(1_000_000); }

    /** Opens the gate but makes every step take {@code millis}. */
    void pace(long millis) { paceMillis = millis; openGate(); }

    private volatile long paceMillis;

    boolean isClosed() { return closed; }

    @Override public LlamaConfig config() { return config; }

    @Override public Tokenizer tokenizer() { return TOKENIZER; }

    @Override public String device() { return "fake"; }

    @Override public int maxBatch() { return maxBatch; }

    @Override public int openSequences() { return openCount; }

    @Override
    public Sequence open(int[] prompt, int maxNew, SamplingOptions options) {
        if (open.size() >= maxBatch) throw new IllegalStateException("all " + maxBatch + " sequences are open");
        Seq s = new Seq(next++, prompt);
        open.add(s);
        openCount = open.size();
        return s;
    }

    private final java.util.Map<Integer, Integer> produced = new java.util.HashMap<>();

    @Override
    public Step step(List<Sequence> sequences) {
        if (gated) {
            try {
                if (!permits.tryAcquire(20, TimeUnit.SECONDS)) throw new IllegalStateException("the test never released a step");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (paceMillis > 0) {
            try {
                Thread.sleep(paceMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        int[] tokens = new int[sequences.size()];
        RuntimeException[] failures = new RuntimeException[sequences.size()];
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            Seq s = (Seq) sequences.get(i);
            if (!open.contains(s)) throw new IllegalStateException("sequence " + s.id() + " is not open");
            ids.add(s.id());
            if (s.prompt()[0] == TOKENIZER.encode("!")[0]) {
                failures[i] = new IllegalStateException("NaN logit at token 3 (fake)");
                continue;
            }
            int k = produced.merge(s.id(), 1, Integer::sum) - 1;
            tokens[i] = letter(s.id() + k);
        }
        batches.add(List.copyOf(ids));
        return new Step(tokens, failures);
    }

    /** The token of letter ('a' + i % 26). */
    static int letter(int i) { return TOKENIZER.encode(String.valueOf((char) ('a' + i % 26)))[0]; }

    /** The text sequence {@code id} produces in {@code n} steps. */
    static String text(int id, int n) {
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < n; k++) sb.append((char) ('a' + (id + k) % 26));
        return sb.toString();
    }

    @Override
    public void close(Sequence sequence) {
        open.remove(sequence);
        openCount = open.size();
    }

    @Override
    public void close() {
        open.clear();
        openCount = 0;
        closed = true;
    }
}
