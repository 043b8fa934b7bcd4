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
 *
 * <p>Two file formats. The original {@code hellaswag_val.jsonl} (fields ctx_a, ctx_b, activity_label,
 * endings, label) is preprocessed here as above. The derived {@code hellaswag_val_harness.jsonl} of
 * {@code ../shared/data/eval} holds records {@code {query, choices, gold}} whose text was already
 * preprocessed (by a close relative of the harness's rules: ctx_b is not capitalized and only the WikiHow
 * tags are dropped; that folder's README lists the differences), so its text is used as it stands. The
 * format is decided per record, by the presence of {@code query}.
 */
public final class HellaSwagTask implements Task {
    private static final Pattern BRACKETED = Pattern.compile("\\[.*?\\]");

    @Override public String name() { return "hellaswag"; }

    @Override public Metrics metrics() { return Metrics.ACC_AND_NORM; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name(), "hellaswag_val.jsonl", "hellaswag_validation.jsonl", "hellaswag_val_harness.jsonl");
        return Documents.read(file).stream().map(HellaSwagTask::item).toList();
    }

    public static Item item(Doc doc) {
        if (doc.fields().containsKey("query")) return preprocessedItem(doc);
        String ctx = doc.string("ctx_a") + " " + PyText.capitalize(doc.string("ctx_b"));
        String query = preprocess(doc.string("activity_label") + ": " + ctx);
        List<String> endings = doc.strings("endings").stream().map(HellaSwagTask::preprocess).toList();
        if (endings.size() < 2) throw doc.bad("endings", "has " + endings.size() + " endings, need at least 2");
        return MultipleChoice.sharedContext(doc.where(), query, endings, doc.integer("label"));
    }

    /** A record of the derived form {@code {query, choices, gold}}: text already preprocessed. */
    static Item preprocessedItem(Doc doc) {
        List<String> choices = doc.strings("choices");
        if (choices.size() < 2) throw doc.bad("choices", "has " + choices.size() + " choices, need at least 2");
        int gold = doc.integer("gold");
        if (gold < 0 || gold >= choices.size())
            throw doc.bad("gold", "is " + gold + ", outside the " + choices.size() + " choices");
        return MultipleChoice.sharedContext(doc.where(), doc.string("query"), choices, gold);
    }

    static String preprocess(String text) {
        String t = PyText.strip(text);
        t = t.replace(" [title]", ". ");
        t = BRACKETED.matcher(t).replaceAll("");
        return t.replace("  ", " ");
    }
}
