package tern.cuda;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The extern "C" kernels of one assembled translation unit ({@link Kernels#source}) with their parameter
 * kinds as {@link KernelArgs} passes them (p pointer, i int, l long, f float), read from the CUDA text
 * itself: comments removed, line continuations joined, function-like macros expanded (with ## pasting and
 * empty arguments, which is all the kernel sources use), then every {@code extern "C" __global__ void}
 * definition's parameter list parsed. A parameter of a type this cannot map is an error naming it.
 */
final class CudaKernelDefinitions {
    private static final Pattern DEFINE = Pattern.compile("(?m)^[ \\t]*#[ \\t]*define[ \\t]+(\\w+)\\(([^)]*)\\)(.*)$");
    private static final Pattern DIRECTIVE = Pattern.compile("(?m)^[ \\t]*#.*$");
    private static final Pattern KERNEL = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+");
    private static final Pattern IDENT = Pattern.compile("[A-Za-z_]\\w*");

    private CudaKernelDefinitions() {}

    private record Macro(List<String> params, String body) {}

    /** Kernel name → parameter kinds ("p p i f"), in source order. */
    static Map<String, String> of(String source) {
        String text = source.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", "").replaceAll("\\\\\\r?\\n", " ");
        Map<String, Macro> macros = new HashMap<>();
        Matcher d = DEFINE.matcher(text);
        while (d.find()) {
            List<String> params = new ArrayList<>();
            for (String p : d.group(2).split(",")) if (!p.isBlank()) params.add(p.strip());
            macros.put(d.group(1), new Macro(params, d.group(3)));
        }
        text = DIRECTIVE.matcher(text).replaceAll("");
        for (int pass = 0; ; pass++) {
            String expanded = expandOnce(text, macros);
            if (expanded.equals(text)) break;
            if (pass > 20) throw new IllegalStateException("macro expansion does not settle");
            text = expanded;
        }
        Map<String, String> kernels = new LinkedHashMap<>();
        Matcher k = KERNEL.matcher(text);
        while (k.find()) {
            int at = skipSpace(text, k.end());
            if (text.startsWith("__launch_bounds__", at)) at = skipSpace(text, closing(text, text.indexOf('(', at)) + 1);
            Matcher name = IDENT.matcher(text).region(at, text.length());
            if (!name.lookingAt()) throw new IllegalStateException("no kernel name at: " + snippet(text, at));
            int open = skipSpace(text, name.end());
            if (text.charAt(open) != '(') throw new IllegalStateException("no parameter list after " + name.group());
            String params = text.substring(open + 1, closing(text, open));
            StringBuilder kinds = new StringBuilder();
            for (String p : splitTopLevel(params)) {
                if (p.isBlank()) continue;
                kinds.append(kinds.isEmpty() ? "" : " ").append(kind(name.group(), p.strip()));
            }
            if (kernels.put(name.group(), kinds.toString()) != null)
                throw new IllegalStateException("kernel " + name.group() + " is defined twice");
        }
        return kernels;
    }

    private static String kind(String kernel, String param) {
        if (param.contains("*")) return "p";
        List<String> words = new ArrayList<>(List.of(param.replaceAll("\\b(const|__restrict__|volatile)\\b", " ").trim().split("\\s+")));
        words.removeLast();                                  // the parameter's name
        String type = String.join(" ", words);
        return switch (type) {
            case "int", "unsigned", "unsigned int", "signed int" -> "i";
            case "long", "long long", "unsigned long", "unsigned long long", "long int" -> "l";
            case "float" -> "f";
            default -> throw new IllegalStateException("kernel " + kernel + ": parameter '" + param + "' has a type (" + type
                    + ") KernelArgs does not pass");
        };
    }

    /** One pass: every invocation of a function-like macro replaced by its body, arguments substituted. */
    private static String expandOnce(String text, Map<String, Macro> macros) {
        StringBuilder out = new StringBuilder();
        Matcher id = IDENT.matcher(text);
        int last = 0;
        while (id.find(last)) {
            Macro m = macros.get(id.group());
            int open = m == null ? -1 : skipSpace(text, id.end());
            if (m == null || open >= text.length() || text.charAt(open) != '(') {
                out.append(text, last, id.end());
                last = id.end();
                continue;
            }
            int close = closing(text, open);
            List<String> args = splitTopLevel(text.substring(open + 1, close));
            if (args.size() == 1 && args.getFirst().isBlank() && m.params().isEmpty()) args = List.of();
            if (args.size() != m.params().size())
                throw new IllegalStateException("macro " + id.group() + " takes " + m.params().size() + " arguments, given " + args.size());
            Map<String, String> bind = new HashMap<>();
            for (int i = 0; i < args.size(); i++) bind.put(m.params().get(i), args.get(i).strip());
            String body = IDENT.matcher(m.body()).replaceAll(r -> Matcher.quoteReplacement(bind.getOrDefault(r.group(), r.group())));
            out.append(text, last, id.start()).append(' ').append(body.replaceAll("\\s*##\\s*", "")).append(' ');
            last = close + 1;
        }
        return out.append(text.substring(last)).toString();
    }

    private static List<String> splitTopLevel(String s) {
        List<String> parts = new ArrayList<>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(' || c == '<' || c == '[') depth++;
            else if (c == ')' || c == '>' || c == ']') depth--;
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
        for (int i = open; i < s.length(); i++) {
            if (s.charAt(i) == '(') depth++;
            else if (s.charAt(i) == ')' && --depth == 0) return i;
        }
        throw new IllegalStateException("unbalanced parentheses at: " + snippet(s, open));
    }

    private static int skipSpace(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        return i;
    }

    private static String snippet(String s, int at) {
        return s.substring(at, Math.min(s.length(), at + 80));
    }
}
