package tern.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * sciq (lm-evaluation-harness lm_eval/tasks/sciq/sciq.yaml, test split): context
 * "{support.lstrip()}\nQuestion: {question}\nAnswer:", choices [distractor1, distractor2, distractor3,
 * correct_answer], gold 3; acc and acc_norm. The public files are JSON arrays (JSON Lines also read).
 */
public final class SciqTask implements Task {
    @Override public String name() { return "sciq"; }

    @Override public Metrics metrics() { return Metrics.ACC_AND_NORM; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name(), "sciq_test.json", "sciq_test.jsonl");
        return Documents.read(file).stream().map(SciqTask::item).toList();
    }

    public static Item item(Doc doc) {
        String context = PyText.lstrip(doc.string("support")) + "\nQuestion: " + doc.string("question") + "\nAnswer:";
        List<String> choices = List.of(doc.string("distractor1"), doc.string("distractor2"),
                doc.string("distractor3"), doc.string("correct_answer"));
        return MultipleChoice.sharedContext(doc.where(), context, choices, 3);
    }
}
