package tern.cli;

import tern.model.LlamaModel;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Backend;
import tern.train.GgufImport;
import tern.train.TrainCheckpoint;

import java.io.IOException;
import java.nio.file.Path;

/** A model and its tokenizer from a checkpoint folder or from a GGUF file: what generate and eval run. */
record ModelSource(LlamaModel model, Tokenizer tokenizer) implements AutoCloseable {

    /** Exactly one of {@code checkpoint} (a checkpoint or run folder) and {@code gguf} is non-null. */
    static ModelSource open(Path checkpoint, Path gguf, Backend backend) throws IOException {
        if (gguf != null) {
            GgufImport.Loaded l = GgufImport.load(gguf, backend);
            return new ModelSource(l.model(), l.tokenizer());
        }
        Path folder = TrainCheckpoint.modelFolder(checkpoint);
        Path tokenizerFile = folder.resolve(TrainCheckpoint.TOKENIZER);
        Tokenizer tokenizer = TokenizerFiles.load(tokenizerFile);
        LlamaModel model = TrainCheckpoint.loadModel(folder, backend);
        if (tokenizer.vocabSize() > model.config().vocabSize()) {
            model.close();
            throw new IOException(tokenizerFile + ": " + tokenizer.vocabSize() + " tokens, more than the model's vocabulary of " + model.config().vocabSize());
        }
        return new ModelSource(model, tokenizer);
    }

    @Override public void close() { model.close(); }
}
