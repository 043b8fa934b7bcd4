package tern.train;

import tern.checkpoint.Safetensors;
import tern.model.HfConfig;
import tern.model.Linear;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Parameter;
import tern.runtime.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a model as a plain Hugging Face Llama checkpoint that computes what Tern computes: every block
 * linear holds the weights its policy actually uses (γ·T for a TriLM, α·sign W for a BiLM, the k-bit grid
 * for int k), as Spectra's "Unpacked" releases store ±γ/0 in FP16. A training checkpoint cannot serve
 * this purpose: it keeps the float latent weights, which exact resumption needs, and transformers would run
 * those as a float model. The config says {@code tern_precision: float} so Tern reads the export back as
 * the same function, and keeps {@code pretraining_model_parallel} (the number of scales per matrix).
 */
public final class HfExport {
    private HfExport() {}

    /** Exports {@code model} into {@code out} (created if needed): model.safetensors, config.json, tokenizer.json if given. */
    public static void write(LlamaModel model, Path out, DType storage, Path tokenizerJson) throws IOException {
        if (storage != DType.F32 && storage != DType.F16 && storage != DType.BF16)
            throw new IllegalArgumentException("export stores f32, f16 or bf16 weights, not " + storage);
        Backend backend = model.backend();
        Precision precision = model.precision();
        Map<Parameter, Linear> linears = new IdentityHashMap<>();
        for (Linear l : model.blockLinears()) linears.put(l.weight(), l);

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (Parameter p : model.parameters()) {
                Linear linear = linears.get(p);
                tensors.put(p.name, linear == null ? hostCopy(backend, p.value) : usedWeights(backend, linear, precision));
            }
            Files.createDirectories(out);
            Safetensors.write(out.resolve(TrainCheckpoint.MODEL), tensors, Map.of("tern.export", "weights as used by " + precision.weights()), storage);
            // bos/eos: the tokenizer's <|endoftext|> (Spectra's GPT-NeoX id 0 when there is no tokenizer to ask)
            int eot = 0;
            if (tokenizerJson != null && Files.isRegularFile(tokenizerJson)) {
                int id = tern.model.TokenizerFiles.load(tokenizerJson).endOfText();
                if (id >= 0) eot = id;
            }
            String torchDtype = switch (storage) { case F16 -> "float16"; case BF16 -> "bfloat16"; default -> "float32"; };
            String config = HfConfig.write(model.config().withPrecision(Precision.FLOAT), torchDtype, eot, eot);
            tern.checkpoint.AtomicFiles.writeString(out.resolve(TrainCheckpoint.CONFIG), config);
            if (tokenizerJson != null && Files.isRegularFile(tokenizerJson))
                Files.copy(tokenizerJson, out.resolve(TrainCheckpoint.TOKENIZER), StandardCopyOption.REPLACE_EXISTING);
        } finally {
            for (Tensor t : tensors.values()) t.close();
        }
    }

    /** The dense weights a linear uses under the model's precision, on the host. */
    static Tensor usedWeights(Backend backend, Linear linear, Precision precision) {
        try (Linear.Prepared prepared = linear.prepare(backend, precision.weights(), precision.phaseIn())) {
            Tensor dense = switch (prepared) {
                case Linear.Dense d -> d.used();
                case Linear.Packed p -> {
                    Tensor t = backend.zeros(DType.F32, linear.weight().value.shape());
                    backend.unpackTernary(p.weights(), t);
                    yield t;
                }
            };
            Tensor host = hostCopy(backend, dense);
            if (prepared instanceof Linear.Packed) dense.close();
            return host;
        }
    }

    private static Tensor hostCopy(Backend backend, Tensor t) {
        return Tensor.of(backend.download(t), t.shape());
    }
}
