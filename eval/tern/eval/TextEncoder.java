package tern.eval;

/** Text to token ids, as evaluation needs it: the model's tokenizer, or a trivial one in tests. */
public interface TextEncoder {
    int[] encode(String text);

    /** The id that stands for "start of document" before an empty context, or -1 if there is none. */
    int endOfText();

    /** The project's BPE tokenizer. */
    static TextEncoder of(tern.model.Tokenizer tokenizer) {
        return new TextEncoder() {
            @Override public int[] encode(String text) { return tokenizer.encode(text); }
            @Override public int endOfText() { return tokenizer.endOfText(); }
        };
    }

    /**
     * One token per UTF-8 byte, id = byte value modulo {@code vocab}; end-of-text = vocab − 1. The golden
     * test and tools/reference/eval_golden.py both use it, so no tokenizer is needed on the Python side.
     */
    static TextEncoder bytes(int vocab) {
        if (vocab < 2) throw new IllegalArgumentException("byte encoder needs a vocabulary of at least 2, not " + vocab);
        return new TextEncoder() {
            @Override public int[] encode(String text) {
                byte[] b = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                int[] ids = new int[b.length];
                for (int i = 0; i < b.length; i++) ids[i] = (b[i] & 0xff) % vocab;
                return ids;
            }
            @Override public int endOfText() { return vocab - 1; }
        };
    }
}
