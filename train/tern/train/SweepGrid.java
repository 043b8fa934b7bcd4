package tern.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A sweep's grid file: either a JSON list of runs, or an object
 * <pre>{ "data": DIR, "out": DIR, "defaults": { settings… }, "runs": [ { "name": …, settings… }, … ] }</pre>
 * Each run's settings are the defaults overridden by its own: any train setting ({@link TrainConfig#KEYS}:
 * the recipe, the precision plan's precision, weight_bits, switch_to, switch_at, reset_optimizer, phase_in,
 * act_bits, kv_bits, and the shape's hidden, intermediate, layers, heads) but data and out, which the grid
 * gives. The shape may also be written as a {@code "shape": {hidden, intermediate, layers, heads}} object.
 * Every run needs a unique {@code name}: its folder.
 */
public record SweepGrid(String data, String out, List<Entry> runs) {

    /** One run: its folder name and its train settings (keys of {@link TrainConfig#KEYS}, without data and out). */
    public record Entry(String name, Map<String, Object> settings) {}

    @SuppressWarnings("unchecked")
    public static SweepGrid parse(Object json, String source) {
        Map<String, Object> top;
        if (json instanceof List<?> list) {
            top = new LinkedHashMap<>();
            top.put("runs", list);
        } else if (json instanceof Map<?, ?> m) {
            top = (Map<String, Object>) m;
        } else {
            throw new IllegalArgumentException(source + ": a grid is a JSON list of runs or an object with \"runs\"");
        }
        for (String k : top.keySet())
            if (!List.of("data", "out", "defaults", "runs").contains(k))
                throw new IllegalArgumentException(source + ": unknown grid key '" + k + "' (known: data, out, defaults, runs)");
        Map<String, Object> defaults = top.get("defaults") == null ? Map.of() : object(top.get("defaults"), source + " defaults");
        if (!(top.get("runs") instanceof List<?> runs) || runs.isEmpty())
            throw new IllegalArgumentException(source + ": \"runs\" must be a non-empty list");
        List<Entry> entries = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < runs.size(); i++) {
            Map<String, Object> merged = new LinkedHashMap<>(defaults);
            merged.putAll(object(runs.get(i), source + " run " + i));
            Object name = merged.remove("name");
            if (!(name instanceof String n) || n.isBlank() || !n.matches("[A-Za-z0-9._-]+"))
                throw new IllegalArgumentException(source + " run " + i + ": needs a \"name\" of letters, digits, '.', '_', '-' (its folder)");
            if (!names.add(n)) throw new IllegalArgumentException(source + ": two runs are named '" + n + "'");
            if (merged.get("shape") != null) {
                for (Map.Entry<String, Object> e : object(merged.remove("shape"), source + " run " + n + " shape").entrySet()) {
                    if (!TrainConfig.Shape.KEYS.contains(e.getKey()))
                        throw new IllegalArgumentException(source + " run " + n + ": unknown shape setting '" + e.getKey() + "' (known: "
                                + String.join(", ", TrainConfig.Shape.KEYS) + ")");
                    merged.put(e.getKey(), e.getValue());
                }
            }
            merged.remove("shape");
            for (String k : merged.keySet())
                if (!TrainConfig.KEYS.contains(k) || k.equals("data") || k.equals("out"))
                    throw new IllegalArgumentException(source + " run " + n + ": unknown setting '" + k + "'"
                            + (k.equals("data") || k.equals("out") ? " (the grid gives data and out for all its runs)" : ""));
            entries.add(new Entry(n, merged));
        }
        return new SweepGrid((String) top.get("data"), (String) top.get("out"), entries);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object o, String what) {
        if (o instanceof Map<?, ?> m) return (Map<String, Object>) m;
        throw new IllegalArgumentException(what + " must be a JSON object, got " + o);
    }
}
