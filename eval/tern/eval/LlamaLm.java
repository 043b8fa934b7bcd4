package tern.eval;

import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.Tape;
import tern.runtime.Var;

/** A {@link LlamaModel} as the {@link CausalLm} that {@link ModelScorer} reads. */
public record LlamaLm(LlamaModel model) implements CausalLm {
    @Override public Backend backend() { return model.backend(); }

    @Override public int contextLength() { return model.config().contextLength(); }

    @Override public int vocabSize() { return model.config().vocabSize(); }

    @Override public Var logits(Tape tape, int[] ids, int batch, int seq) { return model.logits(tape, ids, batch, seq); }
}
