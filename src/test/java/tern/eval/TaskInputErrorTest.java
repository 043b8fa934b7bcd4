package tern.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad task files fail with a message naming the file, the line and the problem; nothing is skipped. */
class TaskInputErrorTest {
    @TempDir Path dir;

    private void assertFails(Task task, String... fragments) {
        Exception e = assertThrows(RuntimeException.class, () -> task.load(dir));
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
    }

    @Test
    void malformedJsonNamesTheLine() throws Exception {
        Files.writeString(dir.resolve("lambada_test.jsonl"), "{\"text\": \"a b\"}\n{\"text\": \"c d\"\n");
        assertFails(new LambadaTask(), "lambada_test.jsonl:2", "malformed JSON");
    }

    @Test
    void aBlankLineBetweenRecordsIsAnErrorButTrailingOnesAreNot() throws Exception {
        Files.writeString(dir.resolve("lambada_test.jsonl"), "{\"text\": \"a b\"}\n\n{\"text\": \"c d\"}\n");
        assertFails(new LambadaTask(), "lambada_test.jsonl:2", "blank line");
        Files.writeString(dir.resolve("lambada_test.jsonl"), "{\"text\": \"a b\"}\n{\"text\": \"c d\"}\n\n\n");
        org.junit.jupiter.api.Assertions.assertEquals(2, new LambadaTask().load(dir).size());
    }

    @Test
    void missingFieldIsNamed() throws Exception {
        Files.writeString(dir.resolve("hellaswag_val.jsonl"),
                "{\"activity_label\": \"x\", \"ctx_a\": \"a\", \"ctx_b\": \"b\", \"label\": 0}\n");
        assertFails(new HellaSwagTask(), "hellaswag_val.jsonl:1", "missing field 'endings'");
    }

    @Test
    void emptyChoiceIsAnError() throws Exception {
        Files.writeString(dir.resolve("ARC-Easy-Test.jsonl"), "{\"question\": {\"stem\": \"q\", \"choices\": "
                + "[{\"text\": \"yes\", \"label\": \"A\"}, {\"text\": \"\", \"label\": \"B\"}]}, \"answerKey\": \"A\"}\n");
        assertFails(ArcTask.easy(), "ARC-Easy-Test.jsonl:1", "choice 1 is empty");
    }

    @Test
    void answerKeyOutsideTheLabelsIsAnError() throws Exception {
        Files.writeString(dir.resolve("ARC-Challenge-Test.jsonl"), "{\"question\": {\"stem\": \"q\", \"choices\": "
                + "[{\"text\": \"yes\", \"label\": \"A\"}, {\"text\": \"no\", \"label\": \"B\"}]}, \"answerKey\": \"E\"}\n");
        assertFails(ArcTask.challenge(), "ARC-Challenge-Test.jsonl:1", "answerKey", "'E'");
    }

    @Test
    void piqaLabelsMustMatchTheRecords() throws Exception {
        Files.writeString(dir.resolve("piqa_valid.jsonl"), "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n");
        Files.writeString(dir.resolve("piqa_valid-labels.lst"), "0\n1\n");
        assertFails(new PiqaTask(), "piqa_valid-labels.lst", "2 labels for 1 records");
        Files.writeString(dir.resolve("piqa_valid-labels.lst"), "2\n");
        assertFails(new PiqaTask(), "piqa_valid-labels.lst:1", "not 0 or 1");
    }

    @Test
    void winograndeNeedsABlankAndAnAnswerOfOneOrTwo() throws Exception {
        Files.writeString(dir.resolve("winogrande_dev.jsonl"),
                "{\"sentence\": \"no blank here\", \"option1\": \"a\", \"option2\": \"b\", \"answer\": \"1\"}\n");
        assertFails(new WinoGrandeTask(), "winogrande_dev.jsonl:1", "no '_' blank");
        Files.writeString(dir.resolve("winogrande_dev.jsonl"),
                "{\"sentence\": \"the _ fell\", \"option1\": \"a\", \"option2\": \"b\", \"answer\": \"3\"}\n");
        assertFails(new WinoGrandeTask(), "winogrande_dev.jsonl:1", "answer");
    }

    @Test
    void sciqFieldOfTheWrongTypeIsNamed() throws Exception {
        Files.writeString(dir.resolve("sciq_test.json"), "[{\"question\": \"q\", \"distractor1\": 1, \"distractor2\": \"b\", "
                + "\"distractor3\": \"c\", \"correct_answer\": \"d\", \"support\": \"\"}]");
        assertFails(new SciqTask(), "sciq_test.json record 1", "'distractor1' is not a string");
    }

    @Test
    void nullChoicesAndBrokenUtf8AreNamedToo() throws Exception {
        Files.writeString(dir.resolve("ARC-Easy-Test.jsonl"), "{\"question\": {\"stem\": \"q\", \"choices\": [null]}, \"answerKey\": \"A\"}\n");
        assertFails(ArcTask.easy(), "ARC-Easy-Test.jsonl:1", "non-object");
        Files.writeString(dir.resolve("piqa_valid.jsonl"), "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n");
        Files.write(dir.resolve("piqa_valid-labels.lst"), new byte[] {'0', (byte) 0xff, '\n'});
        assertFails(new PiqaTask(), "piqa_valid-labels.lst", "UTF-8");
    }

    @Test
    void aMissingFileListsTheNamesLookedFor() {
        assertFails(new WinoGrandeTask(), "winogrande_dev.jsonl", "dev.jsonl", dir.toString());
    }
}
