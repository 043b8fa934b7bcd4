package tern.eval;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Prompt construction for every task format, on hand-written items in the public formats
 * (src/test/resources/eval/tasks). Expected strings are written out from the harness's templates.
 */
class TaskPromptTest {
    static final Path DIR = Path.of("src/test/resources/eval/tasks");

    private static void assertOption(Item item, int i, String context, String continuation) {
        assertEquals(context, item.options().get(i).context(), item.where() + " context of option " + i);
        assertEquals(continuation, item.options().get(i).continuation(), item.where() + " continuation of option " + i);
    }

    @Test
    void lambadaSplitsAtTheLastSpaceAndKeepsTheSpaceOnTheTarget() throws Exception {
        List<Item> items = new LambadaTask().load(DIR);
        assertEquals(4, items.size());
        assertOption(items.get(0), 0, "The kettle had been whistling for a minute before Marta noticed it. "
                + "She poured the water over the leaves and waited for the", " tea");
        assertOption(items.get(1), 0, "He tied the boat to the dock.\n\n\"Is it safe?\" she asked.\n\n"
                + "He nodded and helped her onto the", " boat");
        assertOption(items.get(2), 0, "", " single");   // no space: empty context (end-of-text stands in)
        assertOption(items.get(3), 0, "Ünïcode ends with a word like", " café");
        assertEquals(0, items.get(3).gold());
    }

    @Test
    void piqaAsksAQuestionAndTakesLabelsFromTheSideFile() throws Exception {
        List<Item> items = new PiqaTask().load(DIR);
        assertEquals(3, items.size());
        Item second = items.get(1);
        assertOption(second, 0, "Question: loosen a stuck jar lid\nAnswer:", " run the lid under cold water ");
        assertOption(second, 1, "Question: loosen a stuck jar lid\nAnswer:", " run the lid under hot water");
        assertEquals(List.of("run the lid under cold water ", "run the lid under hot water"), second.choices());
        assertEquals(List.of(0, 1, 0), items.stream().map(Item::gold).toList());
        assertEquals(DIR.resolve("piqa_valid.jsonl") + ":2", second.where());
    }

    @Test
    void hellaswagCapitalizesCtxBAndRemovesWikiHowBrackets() throws Exception {
        List<Item> items = new HellaSwagTask().load(DIR);
        assertEquals(3, items.size());
        assertOption(items.get(0), 2, "Washing dishes: A man fills a sink with soapy water. He",
                " scrubs the plates and rinses them under the tap.");
        assertEquals(2, items.get(0).gold());
        // " [title]" becomes ". ", other brackets vanish, one pass of double-space folding; capitalize() lowers "FILL".
        String query = "Home and Garden: How to repot a plant. Choose a larger pot. The new pot should be a few "
                + "centimetres wider. Fill the bottom with fresh soil.";
        Item second = items.get(1);
        assertOption(second, 0, query, "  Water the plant the day before so the roots slide out easily.");
        assertOption(second, 2, query, "  Sing to the pot.");
        assertEquals(" Sing to the pot.", second.choices().get(2));
        assertEquals(0, second.gold());   // label given as the string "0"
        Item third = items.get(2);        // empty ctx_b: the trailing space is stripped by preprocess
        assertOption(third, 0, "Running: A woman laces her shoes at the start of a track.", " She sits down and knits a scarf.");
        assertEquals("She sprints off when the whistle blows.", third.choices().get(1));
    }

    @Test
    void arcUsesTheStemAndFindsTheAnswerAmongLetterOrNumberLabels() throws Exception {
        List<Item> easy = ArcTask.easy().load(DIR);
        assertEquals(2, easy.size());
        assertOption(easy.get(0), 1, "Question: Which of these is a source of light?\nAnswer:", " the Moon's shadow");
        assertEquals(0, easy.get(0).gold());
        assertEquals(3, easy.get(1).options().size());
        assertEquals(1, easy.get(1).gold());   // answerKey "2" among labels 1, 2, 3
        List<Item> challenge = ArcTask.challenge().load(DIR);
        assertEquals(1, challenge.size());
        assertOption(challenge.get(0), 3, "Question: A student heats ice in a pan. Which change happens first?\nAnswer:",
                " The water freezes.");
    }

    @Test
    void sciqPutsTheLeftStrippedSupportFirstAndTheCorrectAnswerLast() throws Exception {
        List<Item> items = new SciqTask().load(DIR);
        assertEquals(2, items.size());
        String ctx = "Plants make sugar by photosynthesis, using carbon dioxide and water with the energy of light."
                + "\nQuestion: What gas do plants take in from the air to make sugar?\nAnswer:";
        assertOption(items.get(0), 0, ctx, " oxygen");
        assertOption(items.get(0), 3, ctx, " carbon dioxide");
        assertEquals(List.of("oxygen", "nitrogen", "helium", "carbon dioxide"), items.get(0).choices());
        assertEquals(3, items.get(0).gold());
        assertOption(items.get(1), 3, "\nQuestion: What is the unit of force?\nAnswer:", " newton");   // empty support
        assertEquals(DIR.resolve("sciq_test.json") + " record 2", items.get(1).where());
    }

    @Test
    void winograndeSubstitutesEachOptionIntoThePartialContext() throws Exception {
        List<Item> items = new WinoGrandeTask().load(DIR);
        assertEquals(3, items.size());
        assertOption(items.get(0), 0, "The cup did not fit in the bag because the cup", " was too big.");
        assertOption(items.get(0), 1, "The cup did not fit in the bag because the bag", " was too big.");
        assertEquals(0, items.get(0).gold());
        assertOption(items.get(2), 1, "The snow melted but the ice stayed, since the ice", " was thicker");
        assertEquals(1, items.get(2).gold());
    }

    @Test
    void taskNamesParseAndUnknownOnesAreNamed() {
        assertEquals(List.of("lambada_openai", "hellaswag", "arc_easy", "arc_challenge", "piqa", "sciq", "winogrande"),
                Tasks.parse("lambada,hellaswag,arc_easy,arc_challenge,piqa,sciq,winogrande").stream().map(Task::name).toList());
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Tasks.parse("piqa,boolq"));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("boolq"), e.getMessage());
    }
}
