package tern.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * hellaswag (lm-evaluation-harness lm_eval/tasks/hellaswag/hellaswag.yaml + utils.py, validation split):
 * ctx = ctx_a + " " + ctx_b.capitalize(); query = preprocess(activity_label + ": " + ctx); choices =
 * preprocess(each ending); gold = int(label). preprocess strips, turns " [title]" into ". ", drops any
 * other "[...]" (WikiHow artifacts) and folds double spaces once. acc and acc_norm.
 */
public final class HellaSwagTask implements Task {
    private static final Pattern BRACKETED = Pattern.compile("\\[.*?\\]");

    @Override public String name() { return "hellaswag"; }

    @Override public Metrics metrics() { return Metrics.ACC_AND_NORM; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name(), "hellaswag_val.jsonl", "hellaswag_validation.jsonl");
        return Documents.read(file).stream().map(HellaSwagTask::item).toList();
    }

    public static Item item(Doc doc) {
        String ctx = doc.string("ctx_a") + " " + PyText.capitalize(doc.string("ctx_b"));
        String query = preprocess(doc.string("activity_label") + ": " + ctx);
        List<String> endings = doc.strings("endings").stream().map(HellaSwagTask::preprocess).toList();
        if (endings.size() < 2) throw doc.bad("endings", "has " + endings.size() + " endings, need at least 2");
        return MultipleChoice.sharedContext(doc.where(), query, endings, doc.integer("label"));
    }

    static String preprocess(String text) {
        String t = PyText.strip(text);
        t = t.replace(" [title]", ". ");
        t = BRACKETED.matcher(t).replaceAll("");
        return t.replace("  ", " ");
    }
}
