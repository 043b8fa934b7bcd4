package tern.eval;

import java.util.ArrayList;
import java.util.List;

/** Items of the multiple_choice output type, as lm-evaluation-harness's ConfigurableTask builds them. */
final class MultipleChoice {
    private MultipleChoice() {}

    /** The harness's default target_delimiter, put between the context and each choice. */
    static final String TARGET_DELIMITER = " ";

    /** One context, one continuation per choice: (context, " " + choice). */
    static Item sharedContext(String where, String context, List<String> choices, int gold) {
        List<TextPair> options = new ArrayList<>(choices.size());
        for (String c : choices) options.add(new TextPair(context, TARGET_DELIMITER + c));
        return new Item(where, options, choices, gold);
    }
}
