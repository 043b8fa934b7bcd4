package tern.eval;

import tern.runtime.Backend;
import tern.runtime.Tape;
import tern.runtime.Var;

/**
 * What {@link ModelScorer} needs from a language model: next-token logits for a batch of equal-length
 * token rows, computed with {@link Backend} calls only (so the same scorer runs on CPU and GPU).
 */
public interface CausalLm {
    Backend backend();

    /** Tokens per row the model accepts (its trained context length). */
    int contextLength();

    int vocabSize();

    /**
     * Logits [batch·seq, vocab] for row-major ids [batch, seq]; row b·seq + p holds the distribution of the
     * token after position p of row b, seeing positions 0..p of that row only (causal).
     */
    Var logits(Tape tape, int[] ids, int batch, int seq);
}
