package tern.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code --help} on every command of {@link Main#COMMANDS} and on every subcommand their usage names
 * ({@code tern bench generate}, {@code tern tokenizer train}, ...): exit 0 and the usage on standard output,
 * without doing the command's work.
 */
class HelpTest {
    /** "tern CMD SUB" in a usage text, SUB a plain word (not a flag, not upper-case placeholder). */
    private static final Pattern SUBCOMMAND = Pattern.compile("tern (\\S+) ([a-z][a-z-]*)\\b");

    @Test
    void everyCommandAndSubcommandAnswersHelp() {
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (String name : Main.COMMANDS.keySet()) {
            String usage = help(name, List.of(name), failures);
            checked++;
            if (usage == null) continue;
            Set<String> subs = new LinkedHashSet<>();
            Matcher m = SUBCOMMAND.matcher(usage);
            while (m.find()) if (m.group(1).equals(name)) subs.add(m.group(2));
            if (name.equals("bench")) subs.addAll(BenchKernels.SUBCOMMANDS.keySet());
            for (String sub : subs) {
                help(name, List.of(name, sub), failures);
                checked++;
            }
        }
        if (!failures.isEmpty()) fail(failures.size() + " of " + checked + " commands do not answer --help:\n  " + String.join("\n  ", failures));
        assertTrue(checked >= Main.COMMANDS.size() + 4, "subcommands found: " + checked);
    }

    @Test
    void benchSubcommandsAreListedInBenchUsage() throws Exception {
        String usage = capture(() -> BenchKernels.dispatch(new String[]{"--help"})).out;
        for (String sub : BenchKernels.SUBCOMMANDS.keySet()) assertTrue(usage.contains("tern bench " + sub), usage);
    }

    private record Result(int code, String out) {}

    /** Runs {@code words --help}; returns its usage text, or null after recording why it failed. */
    private static String help(String command, List<String> words, List<String> failures) {
        String line = "tern " + String.join(" ", words) + " --help";
        List<String> args = new ArrayList<>(words.subList(1, words.size()));
        args.add("--help");
        Result r;
        try {
            r = capture(() -> Main.COMMANDS.get(command).runner().run(args.toArray(String[]::new)));
        } catch (Throwable e) {
            failures.add(line + ": " + e);
            return null;
        }
        String expected = "usage: tern " + String.join(" ", words);
        if (r.code != 0) failures.add(line + ": exit " + r.code);
        else if (!r.out.contains(expected)) failures.add(line + ": no '" + expected + "' in: " + r.out.lines().findFirst().orElse(""));
        else return r.out;
        return null;
    }

    private static Result capture(java.util.concurrent.Callable<Integer> run) throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            int code = run.call();
            return new Result(code, bytes.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    void helpAfterOtherFlagsStillPrintsUsage() throws Exception {
        Result r = capture(() -> Main.COMMANDS.get("bench").runner().run(new String[]{"generate", "--rows", "64", "--help"}));
        assertEquals(0, r.code);
        assertTrue(r.out.contains("usage: tern bench generate"), r.out);
    }
}
