package tern.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.checkpoint.GgufType;
import tern.eval.LlamaLm;
import tern.eval.ModelScorer;
import tern.eval.Request;
import tern.eval.Score;
import tern.eval.SlidingWindowPerplexity;
import tern.runtime.Parameter;
import tern.simd.CpuBackend;
import tern.train.GgufExport;

/**
 * Tern's GGUF files in the real consumer: when {@code TERN_LLAMA_CPP} names the folder of llama.cpp's built
 * tools (llama-simple, llama-perplexity), a random-weight TriLM with 256- and 512-wide matrices is exported as
 * TQ2_0 and TQ1_0, and llama-simple's greedy continuation of 10 prompts must be Tern's, and llama-perplexity's
 * strided perplexity must be within 1% of Tern's over the same windows (context 255 + 1, stride 255: see
 * tools/gguf/compare-llama-cpp.sh for why these settings give the same windows). Skipped when the variable is unset.
 */
class LlamaCppInteropTest {
    private static final String[] WORDS = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "to", "garden",
            "where", "flowers", "grow", "in", "spring", "we", "it's", "x=1;", "(a+b)", "3.14", "2026", "#tag"};
    @TempDir Path dir;

    private static Path tools() {
        String env = System.getenv("TERN_LLAMA_CPP");
        Assumptions.assumeTrue(env != null && !env.isBlank(), "TERN_LLAMA_CPP is unset: llama.cpp interop skipped");
        Path bin = Path.of(env);
        Assumptions.assumeTrue(Files.isExecutable(bin.resolve("llama-simple")), bin + " holds no llama-simple");
        return bin;
    }

    private static String words(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
        return sb.toString();
    }

    private static LlamaModel model(Tokenizer t, float headScale) {
        LlamaConfig c = new LlamaConfig(t.vocabSize(), 256, 512, 2, 4, 256, 1e-5f, 10000f, 1, Precision.of(new LinearPolicy.Ternary(1)));
        LlamaModel m = new LlamaModel(new CpuBackend(), c);
        m.initialize(21);
        for (Parameter p : List.of(m.parameter("model.embed_tokens.weight"), m.parameter("lm_head.weight"))) m.backend().scale(p.value, headScale);
        return m;
    }

    /** Runs a tool; returns its standard output. Its log (standard error) goes to {@code log} when given, else nowhere. */
    private static String run(List<String> cmd, Path log) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectError(log == null ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.to(log.toFile()));
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "timed out: " + cmd);
        assertEquals(0, p.exitValue(), "exit status of " + cmd);
        return new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void llamaSimpleContinuesLikeTern() throws Exception {
        Path bin = tools();
        Tokenizer t = TokenizerTestSupport.trained(400);
        int compared = 0;
        try (LlamaModel m = model(t, 50f)) {
            for (GgufType type : List.of(GgufType.TQ2_0, GgufType.TQ1_0)) {
                Path f = dir.resolve("m-" + type.label() + ".gguf");
                GgufExport.write(m, t, type, GgufType.F16, "interop", f);
                Random r = new Random(5);
                for (int k = 0; k < 10; k++) {
                    String prompt = words(r, 3 + k % 4);
                    List<Integer> ids = new ArrayList<>();
                    for (int id : t.encode(prompt)) ids.add(id);
                    int promptLength = ids.size();
                    // Tern's greedy tokens while they are decisive: llama.cpp quantizes the activations of its ternary
                    // matmuls to 8 bits (Q8_K), so a step whose two best logits are within 1% of the logits' range
                    // may go either way in a random-weight model; the comparison stops before such a step.
                    while (ids.size() < promptLength + 16) {
                        float[] logits = lastLogits(m, ids);
                        int best = 0, second = -1;
                        float max = Float.NEGATIVE_INFINITY, min = Float.POSITIVE_INFINITY;
                        for (int v = 0; v < logits.length; v++) {
                            max = Math.max(max, logits[v]);
                            min = Math.min(min, logits[v]);
                            if (logits[v] > logits[best]) { second = best; best = v; }
                            else if (v != best && (second < 0 || logits[v] > logits[second])) second = v;
                        }
                        if (logits[best] - logits[second] < 0.01f * (max - min) || best == t.endOfText()) break;
                        ids.add(best);
                    }
                    int[] gen = ids.subList(promptLength, ids.size()).stream().mapToInt(Integer::intValue).toArray();
                    compared += gen.length;
                    String want = prompt + t.decode(gen);
                    String got = run(List.of(bin.resolve("llama-simple").toString(), "-m", f.toString(), "-n", "16", prompt), null);
                    assertTrue(got.startsWith(want), type + " prompt '" + prompt + "': Tern's decisive tokens give '" + want + "', llama-simple '" + got + "'");
                }
            }
        }
        assertTrue(compared >= 20, "only " + compared + " decisive tokens compared");
    }

    private static float[] lastLogits(LlamaModel m, List<Integer> ids) {
        int[] a = ids.stream().mapToInt(Integer::intValue).toArray();
        try (tern.runtime.Tape tape = new tern.runtime.Tape(m.backend(), false)) {
            float[] all = m.backend().download(m.logits(tape, a, 1, a.length).value);
            return java.util.Arrays.copyOfRange(all, all.length - m.config().vocabSize(), all.length);
        }
    }

    @Test
    void llamaPerplexityAgreesWithTernOverTheSameWindows() throws Exception {
        Path bin = tools();
        Tokenizer t = TokenizerTestSupport.trained(400);
        String text = words(new Random(9), 1500);
        Path file = dir.resolve("text.txt");
        Files.writeString(file, text);
        int ctx = 255;
        try (LlamaModel m = model(t, 1f)) {
            int[] ids = t.encode(text);
            // llama.cpp's windows: (n - 1) / ctx of them, all full; Tern's requests past those are left out
            List<Request> all = SlidingWindowPerplexity.requests("text", t.endOfText(), ids, ctx, ctx);
            List<Request> same = all.subList(0, (ids.length - 1) / ctx);
            double nll = 0;
            long n = 0;
            for (Score s : new ModelScorer(new LlamaLm(m), 4096).score(same)) nll -= s.logLikelihood();
            for (Request q : same) n += q.continuation().length;
            double tern = Math.exp(nll / n);
            for (GgufType type : List.of(GgufType.TQ2_0, GgufType.TQ1_0)) {
                Path f = dir.resolve("p-" + type.label() + ".gguf");
                GgufExport.write(m, t, type, GgufType.F16, "interop", f);
                String out = run(List.of(bin.resolve("llama-perplexity").toString(), "-m", f.toString(), "-f", file.toString(),
                        "-c", String.valueOf(ctx + 1 - ctx / 2), "--ppl-stride", String.valueOf(ctx), "-b", String.valueOf(ctx + 1),
                        "--override-kv", "tokenizer.ggml.add_bos_token=bool:true"), dir.resolve("perplexity.log"));
                String log = Files.readString(dir.resolve("perplexity.log"), StandardCharsets.UTF_8);
                // the running perplexity after each window, "[k]ppl," on one line: the last is over all windows
                java.util.regex.Matcher w = java.util.regex.Pattern.compile("\\[(\\d+)\\]([0-9]+\\.[0-9]+)").matcher(out);
                String last = "";
                while (w.find()) last = w.group();
                assertTrue(!last.isEmpty(), "no perplexity in llama-perplexity's output: " + out);
                assertTrue(log.contains("have " + (ids.length + 1) + " tokens"), "llama.cpp's tokens are Tern's " + ids.length + " and its BOS: " + log);
                assertEquals(same.size(), Integer.parseInt(last.substring(1, last.indexOf(']'))), "windows");
                double llama = Double.parseDouble(last.substring(last.indexOf(']') + 1));
                assertEquals(1.0, llama / tern, 0.01, type + ": llama.cpp " + llama + " vs Tern " + tern);
            }
        }
    }
}
