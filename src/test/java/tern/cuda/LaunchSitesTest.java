package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * Every kernel launch in the Java sources (cuda/ and the CUDA tests) against its kernel's declaration
 * ({@link KernelTable}, which KernelTableTest holds to the CUDA source), with no GPU: the KernelArgs chain of
 * each {@code .launch(...)} call read from the text (ptr/i32/i64/f32 in order, a KernelArgs variable of the
 * same file followed to its definition, {@code c ? a : b} arguments paired with {@code c ? "x" : "y"} names)
 * must have the declared kinds of every kernel its name expression can produce (a literal, or a literal
 * followed by type suffixes or digits), the module it names must be the one whose table declares the kernel,
 * and every declared kernel must be launched somewhere.
 */
class LaunchSitesTest {
    private static final Pattern LAUNCH = Pattern.compile("\\.launch\\(");
    private static final Pattern LITERAL = Pattern.compile("\"([a-z0-9_]+)\"(\\s*\\+)?");
    private static final Pattern ARG = Pattern.compile("\\.(ptr|i32|i64|f32)\\(");
    private static final String SUFFIXES = "((_f32|_bf16|_f16){0,2}|\\d+(_bf16)?)";

    @Test
    void everyLaunchPassesItsKernelsDeclaredKinds() throws IOException {
        Map<String, String> declared = new HashMap<>(), moduleOf = new HashMap<>();
        for (KernelTable t : KernelTable.all()) {
            declared.putAll(t.kernels());
            for (String k : t.kernels().keySet()) moduleOf.put(k, t.module);
        }
        List<String> problems = new ArrayList<>();
        TreeSet<String> launched = new TreeSet<>();
        int sites = 0;
        for (Path file : javaFiles()) {
            String text = Files.readString(file);
            Matcher m = LAUNCH.matcher(text);
            while (m.find()) {
                int open = m.end() - 1, close = closing(text, open);
                List<String> args = splitTopLevel(text.substring(open + 1, close));
                String argsExpr = args.getLast().strip();
                String nameArgs = String.join(",", args.subList(0, args.size() - 1));
                if (!nameArgs.contains("\""))
                    continue;                      // no kernel named here: Kernels' own overloads, CudaGraph.launch()
                String where = file.getFileName() + ":" + (1 + text.substring(0, m.start()).split("\n", -1).length - 1);
                List<String> names = new ArrayList<>(), kinds = new ArrayList<>();
                Matcher lit = LITERAL.matcher(nameArgs);
                while (lit.find()) {
                    String stem = lit.group(1);
                    Pattern name = Pattern.compile(Pattern.quote(stem) + (lit.group(2) != null ? SUFFIXES : ""));
                    List<String> matching = declared.keySet().stream().filter(k -> name.matcher(k).matches()).sorted().toList();
                    if (!matching.isEmpty()) names.add(String.join(" ", matching));
                }
                for (String alternative : alternatives(argsExpr)) kinds.add(kindsOf(alternative, text));
                String module = moduleOf(args.getFirst().strip(), text);
                if (names.isEmpty()) {
                    problems.add(where + ": no declared kernel matches the launch's name");
                    continue;
                }
                sites++;
                for (int i = 0; i < names.size(); i++) {
                    String k = kinds.get(names.size() == kinds.size() ? i : 0);
                    for (String kernel : names.get(i).split(" ")) {
                        launched.add(kernel);
                        if (!moduleOf.get(kernel).equals(module))
                            problems.add(where + ": " + kernel + " is launched from module " + module + " but " + moduleOf.get(kernel) + ".cu holds it");
                        if (!declared.get(kernel).equals(k))
                            problems.add(where + ": " + kernel + " is declared (" + declared.get(kernel) + "), the launch passes (" + k + ")");
                    }
                }
            }
        }
        TreeSet<String> never = new TreeSet<>(declared.keySet());
        never.removeAll(launched);
        if (!never.isEmpty()) problems.add("declared but never launched: " + never);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
        assertTrue(sites >= 60, "only " + sites + " launch sites found: the scan is broken");
    }

    /** The module a launch names: a literal, this file's MODULE, or another launcher's (Rope.MODULE). */
    private static String moduleOf(String expr, String file) throws IOException {
        if (expr.startsWith("\"")) return expr.substring(1, expr.length() - 1);
        String source = file;
        if (expr.endsWith(".MODULE")) source = Files.readString(Path.of("cuda/tern/cuda", expr.substring(0, expr.length() - 7) + ".java"));
        else if (!expr.equals("MODULE")) throw new IllegalStateException("module argument " + expr + " is not a literal or a MODULE");
        Matcher m = Pattern.compile("static final String MODULE = \"([a-z_]+)\";").matcher(source);
        if (!m.find()) throw new IllegalStateException("no MODULE constant for " + expr);
        return m.group(1);
    }

    private static List<Path> javaFiles() throws IOException {
        List<Path> files = new ArrayList<>();
        for (String dir : new String[] {"cuda/tern/cuda", "src/test/java/tern/cuda"})
            try (Stream<Path> s = Files.list(Path.of(dir))) {
                s.filter(p -> p.toString().endsWith(".java") && !p.getFileName().toString().equals("LaunchSitesTest.java")).forEach(files::add);
            }
        return files;
    }

    /** {@code c ? a : b} at the top level: a and b; else the expression itself. */
    private static List<String> alternatives(String expr) {
        int q = topLevel(expr, '?');
        if (q < 0) return List.of(expr);
        int c = topLevel(expr.substring(q + 1), ':');
        return List.of(expr.substring(q + 1, q + 1 + c), expr.substring(q + 2 + c));
    }

    /** The kinds an argument expression passes, a leading KernelArgs variable followed to its definition in the file. */
    private static String kindsOf(String expr, String file) {
        String e = expr.strip();
        StringBuilder kinds = new StringBuilder();
        Matcher v = Pattern.compile("^(\\w+)\\b").matcher(e);
        if (v.find() && !v.group(1).equals("KernelArgs")) {
            Matcher def = Pattern.compile("KernelArgs\\s+" + v.group(1) + "\\s*=([^;]*);").matcher(file);
            if (!def.find()) throw new IllegalStateException("no definition of KernelArgs " + v.group(1));
            kinds.append(kindsOf(def.group(1), file));
        }
        Matcher a = ARG.matcher(e);
        while (a.find()) kinds.append(switch (a.group(1)) {
            case "ptr" -> 'p';
            case "i32" -> 'i';
            case "i64" -> 'l';
            default -> 'f';
        });
        return kinds.toString();
    }

    private static int topLevel(String s, char c) {
        int depth = 0;
        for (int i = 0; i < s.length(); i++) {
            char x = s.charAt(i);
            if (x == '(') depth++;
            else if (x == ')') depth--;
            else if (x == c && depth == 0) return i;
        }
        return -1;
    }

    private static List<String> splitTopLevel(String s) {
        List<String> parts = new ArrayList<>();
        int depth = 0, start = 0;
        boolean string = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"') string = !string;
            if (string) continue;
            if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == ',' && depth == 0) {
                parts.add(s.substring(start, i));
                start = i + 1;
            }
        }
        parts.add(s.substring(start));
        return parts;
    }

    private static int closing(String s, int open) {
        int depth = 0;
        boolean string = false;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"') string = !string;
            if (string) continue;
            if (c == '(') depth++;
            else if (c == ')' && --depth == 0) return i;
        }
        throw new IllegalStateException("unbalanced parentheses");
    }
}
