package tern.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * arc_easy and arc_challenge (lm-evaluation-harness lm_eval/tasks/arc/arc_easy.yaml, test split):
 * context "Question: {question}\nAnswer:", choices = choices.text, gold = choices.label.index(answerKey);
 * acc and acc_norm. The public JSONL nests the question: question.stem, question.choices[{text, label}].
 */
public final class ArcTask implements Task {
    private final String name;
    private final String fileName;

    private ArcTask(String name, String fileName) {
        this.name = name;
        this.fileName = fileName;
    }

    public static ArcTask easy() { return new ArcTask("arc_easy", "ARC-Easy-Test.jsonl"); }

    public static ArcTask challenge() { return new ArcTask("arc_challenge", "ARC-Challenge-Test.jsonl"); }

    @Override public String name() { return name; }

    @Override public Metrics metrics() { return Metrics.ACC_AND_NORM; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name, fileName, name + "_test.jsonl");
        return Documents.read(file).stream().map(ArcTask::item).toList();
    }

    public static Item item(Doc doc) {
        Doc question = doc.object("question");
        List<String> texts = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (Object o : question.list("choices")) {
            if (!(o instanceof java.util.Map<?, ?>)) throw question.bad("choices", "holds a non-object element");
            @SuppressWarnings("unchecked")
            Doc choice = new Doc(question.where(), (java.util.Map<String, Object>) o);
            texts.add(choice.string("text"));
            labels.add(choice.stringOrInteger("label"));
        }
        String answer = doc.stringOrInteger("answerKey");
        int gold = labels.indexOf(answer);
        if (gold < 0) throw doc.bad("answerKey", "'" + answer + "' is not one of the labels " + labels);
        String context = "Question: " + question.string("stem") + "\nAnswer:";
        return MultipleChoice.sharedContext(doc.where(), context, texts, gold);
    }
}
