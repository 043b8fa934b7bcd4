package tern.eval;

import java.util.List;

/**
 * One evaluation item: the (context, continuation) pair of each answer option, the option texts whose
 * lengths normalize acc_norm (the harness's doc_to_choice, without the target delimiter), and the index of
 * the right option. A LAMBADA item has one option, its target word. {@code where} is "file:line".
 */
public record Item(String where, List<TextPair> options, List<String> choices, int gold) {
    public Item {
        options = List.copyOf(options);
        choices = List.copyOf(choices);
        if (options.isEmpty()) throw new IllegalArgumentException(where + ": an item needs at least one option");
        if (options.size() != choices.size())
            throw new IllegalArgumentException(where + ": " + options.size() + " options but " + choices.size() + " choice texts");
        if (gold < 0 || gold >= options.size())
            throw new IllegalArgumentException(where + ": gold index " + gold + " outside 0.." + (options.size() - 1));
        for (int i = 0; i < choices.size(); i++)
            if (choices.get(i).isEmpty())
                throw new IllegalArgumentException(where + ": choice " + i + " is empty");
    }
}
