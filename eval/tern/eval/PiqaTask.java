package tern.eval;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * piqa (lm-evaluation-harness lm_eval/tasks/piqa/piqa.yaml, validation split): context
 * "Question: {goal}\nAnswer:", choices [sol1, sol2], target = the label; acc and acc_norm. The public
 * files hold the labels apart, one 0/1 a line, aligned with the JSONL.
 */
public final class PiqaTask implements Task {
    @Override public String name() { return "piqa"; }

    @Override public Metrics metrics() { return Metrics.ACC_AND_NORM; }

    @Override public List<Item> load(Path dataDir) throws IOException {
        Path file = Task.find(dataDir, name(), "piqa_valid.jsonl", "valid.jsonl");
        Path labelsFile = Task.find(dataDir, name(), "piqa_valid-labels.lst", "valid-labels.lst");
        List<Doc> docs = Documents.read(file);
        List<String> labels;
        try {
            labels = new ArrayList<>(Files.readAllLines(labelsFile, StandardCharsets.UTF_8));
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new TaskFormatException(labelsFile + ": not valid UTF-8 text");
        }
        while (!labels.isEmpty() && labels.getLast().isBlank()) labels.removeLast();
        if (labels.size() != docs.size())
            throw new TaskFormatException(labelsFile + ": " + labels.size() + " labels for " + docs.size()
                    + " records in " + file);
        List<Item> items = new ArrayList<>(docs.size());
        for (int i = 0; i < docs.size(); i++) {
            String label = labels.get(i).strip();
            if (!label.equals("0") && !label.equals("1"))
                throw new TaskFormatException(labelsFile + ":" + (i + 1) + ": label '" + label + "' is not 0 or 1");
            items.add(item(docs.get(i), Integer.parseInt(label)));
        }
        return items;
    }

    public static Item item(Doc doc, int label) {
        String context = "Question: " + doc.string("goal") + "\nAnswer:";
        return MultipleChoice.sharedContext(doc.where(), context, List.of(doc.string("sol1"), doc.string("sol2")), label);
    }
}
