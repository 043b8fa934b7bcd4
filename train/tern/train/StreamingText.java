package tern.train;

import java.io.PrintStream;
import tern.model.GenerationRequest;
import tern.model.Generator;
import tern.model.LlamaModel;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;
import tern.model.Utf8Stream;

/**
 * Generation printed as it happens: each new token's bytes go through one UTF-8 decoder, so a character
 * split across tokens appears whole once its last byte arrives, and the text is flushed token by token.
 */
public final class StreamingText {
    private StreamingText() {}

    /** What a generation produced and how fast. */
    public record Stats(int promptTokens, int newTokens, double seconds, String text) {
        public double tokensPerSecond() { return seconds > 0 ? newTokens / seconds : Double.NaN; }
    }

    /**
     * Encodes {@code prompt}, prints it, then generates up to {@code maxTokens} tokens (fewer if the context
     * would overflow, or at {@code <|endoftext|>}) and prints each as it comes.
     */
    public static Stats generate(LlamaModel model, Tokenizer tokenizer, String prompt, int maxTokens,
                                 SamplingOptions options, PrintStream out) {
        GenerationRequest request = GenerationRequest.of(tokenizer, prompt, model.config().contextLength(), maxTokens, options);
        Utf8Stream text = new Utf8Stream(s -> {
            out.print(s);
            out.flush();
        });
        out.print(prompt);
        out.flush();
        long start = System.nanoTime();
        int[] produced;
        try (Generator g = new Generator(model)) {
            produced = g.generate(request.ids(), request.budget(), request.options(), token -> {
                if (request.isText(token)) text.accept(tokenizer.decodeBytes(new int[] {token}, 0, 1));
            });
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        out.println();
        return new Stats(request.ids().length, produced.length, seconds, text.text());
    }
}
