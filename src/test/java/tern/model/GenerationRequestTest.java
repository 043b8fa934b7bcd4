package tern.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The prompt checks and the streamed UTF-8 decoding that `tern generate` and the embedding API share. */
class GenerationRequestTest {
    private static final Tokenizer TOKENIZER = TokenizerTestSupport.trained(300);

    @Test
    void budgetIsTheSmallerOfTheMaximumAndWhatTheContextLeaves() {
        String prompt = "the cat sat on the mat";
        int n = TOKENIZER.encode(prompt).length;
        GenerationRequest r = GenerationRequest.of(TOKENIZER, prompt, n + 10, 4, SamplingOptions.greedy());
        assertArrayEquals(TOKENIZER.encode(prompt), r.ids());
        assertEquals(4, r.budget());
        assertEquals(10, GenerationRequest.of(TOKENIZER, prompt, n + 10, 1000, SamplingOptions.greedy()).budget());
        assertEquals(TOKENIZER.endOfText(), r.options().stopToken());
        if (TOKENIZER.endOfText() >= 0) assertFalse(r.isText(TOKENIZER.endOfText()));
        assertTrue(r.isText(r.ids()[0]));
    }

    @Test
    void emptyPromptsAndPromptsThatFillTheContextAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.of(TOKENIZER, "", 64, 8, SamplingOptions.greedy()));
        String prompt = "the cat sat on the mat";
        int n = TOKENIZER.encode(prompt).length;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GenerationRequest.of(TOKENIZER, prompt, n, 8, SamplingOptions.greedy()));
        assertTrue(e.getMessage().contains(n + " tokens"), e.getMessage());
    }

    @Test
    void charactersSplitAcrossTokensArriveWhole() {
        String text = "aé€😀b";
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        for (int cut = 0; cut <= bytes.length; cut++) {
            List<String> pieces = new ArrayList<>();
            Utf8Stream s = new Utf8Stream(pieces::add);
            s.accept(Arrays.copyOfRange(bytes, 0, cut));
            s.accept(Arrays.copyOfRange(bytes, cut, bytes.length));
            assertEquals(text, s.text(), "cut at byte " + cut);
            assertEquals(text, String.join("", pieces), "cut at byte " + cut);
            for (String p : pieces) assertFalse(p.contains("\uFFFD"), "cut at byte " + cut + " handed on a broken piece");
        }
    }

    @Test
    void malformedBytesBecomeTheReplacementCharacter() {
        Utf8Stream s = new Utf8Stream(null);
        s.accept(new byte[] {'a', (byte) 0xFF, 'b'});
        assertEquals("a\uFFFDb", s.text());
    }
}
