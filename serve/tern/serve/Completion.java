package tern.serve;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import tern.model.GenerationRequest;
import tern.model.Tokenizer;
import tern.model.Utf8Stream;

/**
 * One admitted request on its way through the scheduler: its tokens become text (whole UTF-8 characters,
 * stop strings held back and cut), and what it produces goes to the HTTP thread that answers it as
 * {@link Event}s, so a slow or vanished client never holds up a decode step. The scheduler thread calls
 * {@link #accept}; the HTTP thread reads {@link #events} and may {@link #cancel} at any time.
 */
final class Completion {
    /** What the HTTP side receives, in order: text pieces, then one {@link Finished} or {@link Failed}. */
    sealed interface Event {}

    record Text(String text) implements Event {}

    /** @param reason "stop" (end-of-text token or a stop string) or "length" (max_tokens reached) */
    record Finished(String reason, int promptTokens, int completionTokens) implements Event {}

    record Failed(ApiError error) implements Event {}

    final String id;
    final CompletionRequest request;
    final GenerationRequest generation;
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    final long created = System.currentTimeMillis() / 1000;   // one value for every chunk of the completion
    private final Tokenizer tokenizer;
    private final StopMatcher stops;
    private final Utf8Stream utf8;
    private volatile boolean cancelled;
    private int produced;
    StepDecoder.Sequence sequence;           // the scheduler's: set while the completion holds a slot

    Completion(String id, CompletionRequest request, GenerationRequest generation, Tokenizer tokenizer) {
        this.id = id;
        this.request = request;
        this.generation = generation;
        this.tokenizer = tokenizer;
        this.stops = new StopMatcher(request.stop());
        this.utf8 = new Utf8Stream(piece -> {
            if (stops.stopped()) return;
            String shown = stops.push(piece);
            if (!shown.isEmpty()) events.add(new Text(shown));
        });
    }

    /** Tokens of the prompt. */
    int promptTokens() { return generation.ids().length; }

    /** New tokens allowed (max_tokens, which the server checked fits the context). */
    int budget() { return generation.budget(); }

    /**
     * One new token (scheduler thread); true when the completion is finished, its last event sent:
     * end-of-text, a stop string in the text, or max_tokens reached.
     */
    boolean accept(int token) {
        produced++;
        String reason = null;
        if (token == generation.endOfText()) reason = "stop";
        else {
            utf8.accept(tokenizer.decodeBytes(new int[] {token}, 0, 1));
            if (stops.stopped()) reason = "stop";
            else if (produced >= budget()) reason = "length";
        }
        if (reason == null) return false;
        if (!stops.stopped()) {
            String rest = stops.flush();
            if (!rest.isEmpty()) events.add(new Text(rest));
        }
        events.add(new Finished(reason, promptTokens(), produced));
        return true;
    }

    void fail(ApiError error) { events.add(new Failed(error)); }

    /** The client is gone (or the server is stopping): the slot is freed at the next step boundary. */
    void cancel() { cancelled = true; }

    boolean cancelled() { return cancelled; }

    int produced() { return produced; }
}
