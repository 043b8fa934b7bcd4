package tern.serve;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import tern.model.InferenceModel;
import tern.model.LlamaConfig;
import tern.model.SamplingOptions;
import tern.model.TernModel;
import tern.model.Tokenizer;
import tern.simd.PackedMatmul;

/**
 * A {@link StepDecoder} over today's one-sequence API: each open sequence runs
 * {@link InferenceModel#generate} on its own model instance (the packed file is mapped once per instance,
 * so the weights' pages are shared; each instance owns one KV cache) in its own thread, paused in the
 * token callback until the scheduler's next step lets it compute one more token. A step therefore runs
 * its sequences one after another: continuous batching in scheduling (join and leave between steps),
 * not yet in arithmetic (one matrix-vector product per sequence per layer instead of one matrix product).
 * The batched decode step of the model side replaces this class.
 */
public final class PerSequenceDecoder implements StepDecoder {
    private final Path file;
    private final TernModel first;
    private final int maxBatch;
    private final PackedMatmul.Activations activations;
    private final List<InferenceModel> models = new ArrayList<>();
    private final ArrayDeque<InferenceModel> idle = new ArrayDeque<>();
    private final List<Worker> open = new ArrayList<>();
    private int threads;
    private volatile int openCount;           // open.size() for other threads (/health)

    private PerSequenceDecoder(Path file, TernModel first, int maxBatch, PackedMatmul.Activations activations) {
        this.file = file;
        this.first = first;
        this.maxBatch = maxBatch;
        this.activations = activations;
        first.model().setActivations(activations);
        models.add(first.model());
        idle.add(first.model());
    }

    /** Loads the packed model (and its tokenizer); more instances are mapped as more sequences open at once. */
    public static PerSequenceDecoder load(Path file, int maxBatch, PackedMatmul.Activations activations) throws IOException {
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be ≥ 1, got " + maxBatch);
        return new PerSequenceDecoder(file, TernModel.load(file), maxBatch, activations);
    }

    @Override public LlamaConfig config() { return first.config(); }

    @Override public Tokenizer tokenizer() { return first.tokenizer(); }

    @Override public String device() { return "cpu"; }

    @Override public int maxBatch() { return maxBatch; }

    @Override public int openSequences() { return openCount; }

    @Override
    public Sequence open(int[] prompt, int maxNew, SamplingOptions options) {
        if (open.size() >= maxBatch) throw new IllegalStateException("all " + maxBatch + " sequences are open");
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        InferenceModel model = idle.poll();
        if (model == null) {
            model = InferenceModel.load(file);   // the file was validated at load; this maps it once more
            model.setActivations(activations);
            models.add(model);
        }
        Worker w = new Worker(model, prompt.clone(), maxNew, options, "tern-sequence-" + threads++);
        open.add(w);
        openCount = open.size();
        return w;
    }

    @Override
    public Step step(List<Sequence> sequences) {
        int[] tokens = new int[sequences.size()];
        RuntimeException[] failures = new RuntimeException[sequences.size()];
        for (int i = 0; i < tokens.length; i++) {
            Worker w = worker(sequences.get(i));
            try {
                tokens[i] = w.next();
            } catch (RuntimeException e) {
                failures[i] = e;
            }
        }
        return new Step(tokens, failures);
    }

    @Override
    public void close(Sequence sequence) {
        Worker w = worker(sequence);
        if (!open.remove(w)) return;
        openCount = open.size();
        w.cancel();
        idle.push(w.model);
    }

    private Worker worker(Sequence s) {
        if (!(s instanceof Worker w) || !open.contains(w)) throw new IllegalArgumentException("not an open sequence of this decoder: " + s);
        return w;
    }

    @Override
    public void close() {
        for (Worker w : List.copyOf(open)) close(w);
        for (InferenceModel m : models) m.close();   // first's model is among them; its tokenizer holds no resources
    }

    /** Unwinds a paused generation that the scheduler closed. */
    private static final class Cancelled extends RuntimeException {
        Cancelled() { super(null, null, false, false); }
    }

    /**
     * One sequence's thread and its hand-off with the scheduler: the scheduler sets {@code go} and waits
     * for a token; the thread computes exactly one token per {@code go}. Only one side runs at a time, so
     * the model instances never compete for the cores.
     */
    private static final class Worker implements Sequence {
        final InferenceModel model;
        private final int[] prompt;
        private final int maxNew;
        private final SamplingOptions options;
        private final Thread thread;
        private boolean go, cancelled, ended, hasToken;
        private int token;
        private RuntimeException failure;

        Worker(InferenceModel model, int[] prompt, int maxNew, SamplingOptions options, String name) {
            this.model = model;
            this.prompt = prompt;
            this.maxNew = maxNew;
            this.options = options;
            this.thread = Thread.ofPlatform().daemon().name(name).start(this::run);
        }

        private void run() {
            try {
                awaitGo();
                model.generate(prompt, maxNew, options, t -> {
                    publish(t);
                    awaitGo();
                });
            } catch (Cancelled c) {
                // closed by the scheduler: nothing to report
            } catch (RuntimeException | Error e) {
                synchronized (this) { failure = e instanceof RuntimeException r ? r : new IllegalStateException(e.toString(), e); }
            } finally {
                synchronized (this) { ended = true; notifyAll(); }
            }
        }

        private synchronized void awaitGo() {
            while (!go && !cancelled) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    cancelled = true;
                }
            }
            if (cancelled) throw new Cancelled();
            go = false;
        }

        private synchronized void publish(int t) {
            token = t;
            hasToken = true;
            notifyAll();
        }

        /** Lets the thread compute one token and waits for it. */
        synchronized int next() {
            if (ended) throw failure != null ? failure : new IllegalStateException("the sequence has generated all " + maxNew + " tokens");
            go = true;
            notifyAll();
            boolean interrupted = false;
            while (!hasToken && !ended) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;   // a step is short: finish it, keep the flag for the caller
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            if (!hasToken) throw failure != null ? failure : new IllegalStateException("the sequence ended after " + maxNew + " tokens");
            hasToken = false;
            return token;
        }

        /** Ends the generation (the thread is paused between tokens, so it unwinds at once) and waits for it. */
        void cancel() {
            synchronized (this) { cancelled = true; notifyAll(); }
            boolean interrupted = false;
            while (true) {
                try {
                    thread.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }

        @Override public String toString() { return thread.getName() + " (prompt of " + prompt.length + " tokens)"; }
    }
}
