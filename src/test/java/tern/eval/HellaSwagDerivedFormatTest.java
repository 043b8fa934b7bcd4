package tern.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * HellaSwag in the derived {query, choices, gold} form of ../shared/data/eval: the text is used as it
 * stands (no second preprocessing), and malformed records are named.
 */
class HellaSwagDerivedFormatTest {

    @Test
    void queryAndChoicesAreTakenAsTheyStand(@TempDir Path dir) throws Exception {
        // "[title]" and a lower-case ctx_b survive: the derived file's own preprocessing already ran.
        Files.writeString(dir.resolve("hellaswag_val_harness.jsonl"),
                "{\"query\": \"Roof shingle removal: A man is sitting on a roof. he\", \"choices\": "
                        + "[\"is using wrap to wrap a pair of skis.\", \"starts pulling up roofing on a roof.\", "
                        + "\"is ripping level tiles off.\", \"holds a [title] sign.\"], \"gold\": 1}\n"
                        + "{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": \"0\"}\n");
        List<Item> items = new HellaSwagTask().load(dir);
        assertEquals(2, items.size());
        Item first = items.get(0);
        assertEquals("Roof shingle removal: A man is sitting on a roof. he", first.options().get(1).context());
        assertEquals(" starts pulling up roofing on a roof.", first.options().get(1).continuation());
        assertEquals("holds a [title] sign.", first.choices().get(3));
        assertEquals(1, first.gold());
        assertEquals(0, items.get(1).gold());
    }

    @Test
    void theOriginalFileWinsWhenBothArePresent(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("hellaswag_val_harness.jsonl"), "{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n");
        Files.copy(TaskPromptTest.DIR.resolve("hellaswag_val.jsonl"), dir.resolve("hellaswag_val.jsonl"));
        assertEquals(3, new HellaSwagTask().load(dir).size());
    }

    @Test
    void goldOutsideTheChoicesAndTooFewChoicesAreNamed(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("hellaswag_val_harness.jsonl");
        Files.writeString(f, "{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n");
        TaskFormatException e = assertThrows(TaskFormatException.class, () -> new HellaSwagTask().load(dir));
        assertTrue(e.getMessage().contains("hellaswag_val_harness.jsonl:1") && e.getMessage().contains("gold"), e.getMessage());
        Files.writeString(f, "{\"query\": \"q\", \"choices\": [\"a\"], \"gold\": 0}\n");
        e = assertThrows(TaskFormatException.class, () -> new HellaSwagTask().load(dir));
        assertTrue(e.getMessage().contains("choices"), e.getMessage());
    }

    /** The shared set itself, where it sits beside the checkout: 10,042 items of four choices. */
    @Test
    void theSharedDerivedSetLoadsWhole() throws Exception {
        Path dir = Path.of("../shared/data/eval");
        assumeTrue(Files.isRegularFile(dir.resolve("hellaswag_val_harness.jsonl")), "../shared/data/eval is not beside this checkout");
        List<Item> items = new HellaSwagTask().load(dir);
        assertEquals(10_042, items.size());
        assertTrue(items.stream().allMatch(i -> i.options().size() == 4));
        int[] golds = new int[4];
        for (Item i : items) golds[i.gold()]++;
        assertEquals(List.of(2515, 2485, 2584, 2458), List.of(golds[0], golds[1], golds[2], golds[3]));
    }
}
