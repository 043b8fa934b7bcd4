package tern.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * lambada_openai (lm-evaluation-harness lm_eval/tasks/lambada/lambada_openai.yaml): context =
 * {@code text.split(' ')[:-1]|join(' ')}, target = {@code ' ' + text.split(' ')[-1]}, no target delimiter
 * (output_type loglikelihood passes the target as it is). acc = every target token greedy; perplexity =
 * exp(−mean over items of the target's summed log-likelihood).
 */
public final class LambadaTask implements Task {
    @Override public String name() { return "lambada_openai"; }

    @Override public Metrics metrics() { return Metrics.GREEDY_AND_PERPLEXITY; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name(), "lambada_test.jsonl", "lambada_openai.jsonl");
        return Documents.read(file).stream().map(LambadaTask::item).toList();
    }

    public static Item item(Doc doc) {
        String text = doc.string("text");
        if (text.isBlank()) throw doc.bad("text", "is blank");
        int cut = text.lastIndexOf(' ');   // split(' ') then join(' ') of all but the last = up to the last space
        String context = cut < 0 ? "" : text.substring(0, cut);
        String target = " " + text.substring(cut + 1);
        return new Item(doc.where(), List.of(new TextPair(context, target)), List.of(target), 0);
    }
}
