package tern.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * winogrande (lm-evaluation-harness lm_eval/tasks/winogrande/default.yaml + preprocess_winogrande.py,
 * winogrande_xl validation = the public dev.jsonl): partial evaluation. Each option is substituted for the
 * blank and everything after the blank is dropped: that is the option's context; the continuation is
 * " " + sentence[blank+1:].strip(), the same for both, and only it is scored. acc only.
 */
public final class WinoGrandeTask implements Task {
    @Override public String name() { return "winogrande"; }

    @Override public Metrics metrics() { return Metrics.ACC; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name(), "winogrande_dev.jsonl", "dev.jsonl");
        return Documents.read(file).stream().map(WinoGrandeTask::item).toList();
    }

    public static Item item(Doc doc) {
        String sentence = doc.string("sentence");
        int blank = sentence.indexOf('_');
        if (blank < 0) throw doc.bad("sentence", "has no '_' blank");
        String answer = doc.stringOrInteger("answer").strip();
        int gold = switch (answer) {
            case "1" -> 0;
            case "2" -> 1;
            default -> throw doc.bad("answer", "'" + answer + "' is not \"1\" or \"2\"");
        };
        String option1 = doc.string("option1"), option2 = doc.string("option2");
        if (option1.isEmpty() || option2.isEmpty()) throw doc.bad(option1.isEmpty() ? "option1" : "option2", "is empty");
        String continuation = MultipleChoice.TARGET_DELIMITER + PyText.strip(sentence.substring(blank + 1));
        String c1 = sentence.substring(0, blank) + option1, c2 = sentence.substring(0, blank) + option2;
        // doc_to_choice returns the partial contexts; they are the "choices" (unused: no acc_norm here).
        return new Item(doc.where(), List.of(new TextPair(c1, continuation), new TextPair(c2, continuation)),
                List.of(c1, c2), gold);
    }
}
