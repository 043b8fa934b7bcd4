package tern.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Command-line flags of one subcommand: {@code --name value} pairs and bare {@code --switch}es, checked
 * against the names the subcommand knows. Anything else (an unknown flag, a missing value, a positional
 * word, a value that is not a number where one is needed) is a {@link UsageException}: one line, exit 2.
 */
final class Args {
    private final String command;
    private final Map<String, String> values = new LinkedHashMap<>();

    private Args(String command) { this.command = command; }

    /**
     * Parses {@code args}; {@code withValue} names flags that take a value, {@code switches} flags that
     * take none. Names are given without the leading dashes. A flag given twice keeps the last value.
     */
    static Args parse(String command, String[] args, Set<String> withValue, Set<String> switches) {
        Args a = new Args(command);
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--") || arg.length() == 2)
                throw new UsageException("unexpected argument '" + arg + "' (flags start with --; tern " + command + " --help lists them)");
            String name = arg.substring(2);
            String inline = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {                        // --name=value is accepted too
                inline = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (switches.contains(name)) {
                if (inline != null) throw new UsageException("--" + name + " takes no value");
                a.values.put(name, "true");
            } else if (withValue.contains(name)) {
                String v = inline;
                if (v == null) {
                    if (i + 1 >= args.length || args[i + 1].startsWith("--"))
                        throw new UsageException("--" + name + " needs a value");
                    v = args[++i];
                }
                a.values.put(name, v);
            } else {
                throw new UsageException("unknown flag --" + name + " (tern " + command + " --help lists the flags)");
            }
        }
        return a;
    }

    boolean has(String name) { return values.containsKey(name); }

    String string(String name, String fallback) { return values.getOrDefault(name, fallback); }

    String required(String name) {
        String v = values.get(name);
        if (v == null) throw new UsageException("--" + name + " is required");
        return v;
    }

    long longValue(String name, long fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try {
            return Long.parseLong(v.replace("_", ""));
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " needs a whole number, got '" + v + "'");
        }
    }

    int intValue(String name, int fallback) {
        long v = longValue(name, fallback);
        if (v != (int) v) throw new UsageException("--" + name + " is too large: " + v);
        return (int) v;
    }

    double doubleValue(String name, double fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try {
            double d = Double.parseDouble(v);
            if (!Double.isFinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " needs a number, got '" + v + "'");
        }
    }

    /** The flags given, by name, in command-line order (values as typed). */
    Map<String, String> given() { return Map.copyOf(values); }

    /** The given flags among {@code names}, in command-line order. */
    Map<String, String> givenAmong(List<String> names) {
        Map<String, String> out = new LinkedHashMap<>();
        values.forEach((k, v) -> { if (names.contains(k)) out.put(k, v); });
        return out;
    }
}
