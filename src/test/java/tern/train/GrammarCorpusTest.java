package tern.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class GrammarCorpusTest {
    @Test
    void sameSeedSameTextOtherSeedOtherText() {
        String a = GrammarCorpus.generate(1, 200_000);
        assertEquals(a, GrammarCorpus.generate(1, 200_000));
        String b = GrammarCorpus.generate(2, 200_000);
        assertNotEquals(a, b);
        assertNotEquals(a.substring(0, 1000), b.substring(0, 1000));
    }

    @Test
    void sizeIsAboutWhatWasAskedAndStreamingGivesTheSameText() throws Exception {
        String s = GrammarCorpus.generate(9, 1_000_000);
        assertTrue(s.length() >= 1_000_000 && s.length() < 1_000_000 + 2000, "ends with the paragraph that crosses the size: " + s.length());
        StringWriter w = new StringWriter();
        assertEquals(s.length(), GrammarCorpus.generate(9, 1_000_000, w));
        assertEquals(s, w.toString());
        assertTrue(GrammarCorpus.generate(9, 1000).length() < 2000);
    }

    @Test
    void textIsAsciiParagraphsOfCapitalisedSentences() {
        String s = GrammarCorpus.generate(4, 300_000);
        assertTrue(s.chars().allMatch(c -> c == '\n' || (c >= 0x20 && c < 0x7F)), "ASCII only, so chars are bytes");
        String[] paragraphs = s.split("\n\n");
        assertTrue(paragraphs.length > 500, "many documents: " + paragraphs.length);
        for (String p : paragraphs) {
            assertTrue(!p.isBlank() && !p.contains("\n") && p.endsWith("."), p);
            assertTrue(Character.isUpperCase(p.charAt(0)), p);
        }
        assertTrue(s.contains("Question: ") && s.contains(" Answer: ") && s.contains("Count from "));
    }

    /** Verbs agree with their subjects: a plural subject never takes the -s form, a singular one never the bare form. */
    @Test
    void presentTenseVerbsAgreeWithTheirSubjects() {
        String s = GrammarCorpus.generate(5, 300_000);
        Matcher plural = Pattern.compile("\\b(?:The|Some|These|Two|Three|Four|Five|Six|Seven|Eight|Nine) (?:\\w+ )?(cats|dogs|birds|children|foxes|mice) (\\w+)").matcher(s);
        int checked = 0;
        while (plural.find()) {
            String verb = plural.group(2);
            assertTrue(!verb.matches("sees|likes|finds|carries|watches|wants|holds|paints|follows|brings|sleeps|runs|sings|plays|waits|sits|walks|dances"),
                    "plural subject with a singular verb: " + plural.group());
            checked++;
        }
        Matcher singular = Pattern.compile("\\b(?:The|My|A|An) (?:\\w+ )?(cat|dog|bird|child|fox|mouse) (\\w+)").matcher(s);
        while (singular.find()) {
            assertTrue(!singular.group(2).matches("see|like|find|carry|watch|want|hold|paint|follow|bring|sleep|run|sing|play|wait|sit|walk|dance"),
                    "singular subject with a plural verb: " + singular.group());
            checked++;
        }
        assertTrue(checked > 1000, "enough clauses checked: " + checked);
    }

    @Test
    void factsStayTheSameAcrossTheCorpus() {
        String s = GrammarCorpus.generate(6, 500_000);
        Matcher m = Pattern.compile("A (\\w+) has (\\w+) legs").matcher(s);
        java.util.Map<String, String> legs = new java.util.HashMap<>();
        while (m.find()) {
            String before = legs.putIfAbsent(m.group(1), m.group(2));
            assertTrue(before == null || before.equals(m.group(2)), m.group());
        }
        assertEquals("eight", legs.get("spider"));
        Matcher sum = Pattern.compile("(\\w+) plus (\\w+) is (\\w+)").matcher(s);
        java.util.List<String> numbers = java.util.List.of("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty");
        int sums = 0;
        while (sum.find()) {
            int a = numbers.indexOf(sum.group(1).toLowerCase()), b = numbers.indexOf(sum.group(2)), c = numbers.indexOf(sum.group(3));
            assertEquals(a + b, c, sum.group());
            sums++;
        }
        assertTrue(sums > 100, "sums checked: " + sums);
    }
}
