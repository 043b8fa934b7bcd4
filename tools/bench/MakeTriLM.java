import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import tern.checkpoint.Safetensors;
import tern.model.BpeTrainer;
import tern.model.HfConfig;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Parameter;
import tern.model.Precision;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

/**
 * A random-weight TriLM checkpoint of a preset's shape for the serving benchmarks (tools/bench/serve-vs-llama.sh):
 * the preset's hidden size, FFN, layers and heads, a vocabulary of 8,192 ids of which a byte-level BPE trained
 * on TEXT uses the first 1,024 (the head's other rows are zero, so generation stays inside the tokenizer), one
 * ternary scale per matrix. Random weights cost what trained ones cost per token: the same bytes and products.
 *
 *   java --add-modules jdk.incubator.vector -cp target/classes tools/bench/MakeTriLM.java OUT_DIR TEXT [PRESET]
 */
public class MakeTriLM {
    public static void main(String[] a) throws Exception {
        Path dir = Path.of(a[0]);
        String text = Files.readString(Path.of(a[1]));
        LlamaConfig p = LlamaConfig.preset(a.length > 2 ? a[2] : "390M");
        int vocab = 8192, used = 1024;
        Tokenizer tok = BpeTrainer.train(text.substring(0, Math.min(text.length(), 400_000)), used);
        LlamaConfig c = new LlamaConfig(vocab, p.hidden(), p.intermediate(), p.layers(), p.heads(), p.contextLength(), p.rmsEps(), p.ropeTheta(), 1,
                Precision.of(new LinearPolicy.Ternary(1)));
        Files.createDirectories(dir);
        try (LlamaModel m = new LlamaModel(new CpuBackend(), c)) {
            m.initialize(1);
            Tensor head = m.parameter("lm_head.weight").value;
            m.backend().scale(m.parameter("model.embed_tokens.weight").value, 50f);
            m.backend().scale(head, 5f);
            m.backend().fill(head.slice(tok.vocabSize(), vocab), 0f);
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (Parameter q : m.parameters()) w.put(q.name, q.value);
            Safetensors.write(dir.resolve("model.safetensors"), w, Map.of("format", "pt"));
            Files.writeString(dir.resolve("config.json"), HfConfig.write(m.config()));
            TokenizerFiles.save(tok, dir.resolve("tokenizer.json"));
        }
        System.out.println("wrote " + dir + ": " + p.hidden() + " hidden, " + p.layers() + " layers, vocabulary " + vocab + " (" + tok.vocabSize() + " in the tokenizer)");
    }
}
