package tern.train;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import tern.model.Generator;
import tern.model.LlamaModel;
import tern.model.SamplingOptions;
import tern.model.Tokenizer;

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
        int[] ids = tokenizer.encode(prompt);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens: give some text");
        int context = model.config().contextLength();
        if (ids.length >= context)
            throw new IllegalArgumentException("the prompt is " + ids.length + " tokens; the model's context is " + context);
        int budget = Math.min(maxTokens, context - ids.length);
        int eot = tokenizer.endOfText();
        SamplingOptions opts = eot >= 0 ? options.withStopToken(eot) : options;
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        ByteBuffer pending = ByteBuffer.allocate(64);
        StringBuilder text = new StringBuilder();
        out.print(prompt);
        out.flush();
        long start = System.nanoTime();
        int[] produced;
        try (Generator g = new Generator(model)) {
            produced = g.generate(ids, budget, opts, token -> {
                if (token == eot) return;
                byte[] bytes = tokenizer.decodeBytes(new int[]{token}, 0, 1);
                ByteBuffer in = ByteBuffer.allocate(pending.position() + bytes.length);
                in.put(pending.flip()).put(bytes).flip();
                CharBuffer chars = CharBuffer.allocate(in.remaining() + 1);
                utf8.decode(in, chars, false);
                pending.clear();
                pending.put(in);                                // an incomplete character waits for its next byte
                String s = chars.flip().toString();
                text.append(s);
                out.print(s);
                out.flush();
            });
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        out.println();
        return new Stats(ids.length, produced.length, seconds, text.toString());
    }
}
