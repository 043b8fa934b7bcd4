package tern.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** The tasks by the names lm-evaluation-harness gives them (lambada = lambada_openai). */
public final class Tasks {
    private Tasks() {}

    private static final Map<String, Supplier<Task>> BY_NAME = new LinkedHashMap<>();

    static {
        BY_NAME.put("lambada", LambadaTask::new);
        BY_NAME.put("lambada_openai", LambadaTask::new);
        BY_NAME.put("hellaswag", HellaSwagTask::new);
        BY_NAME.put("arc_easy", ArcTask::easy);
        BY_NAME.put("arc_challenge", ArcTask::challenge);
        BY_NAME.put("piqa", PiqaTask::new);
        BY_NAME.put("sciq", SciqTask::new);
        BY_NAME.put("winogrande", WinoGrandeTask::new);
    }

    public static List<String> names() { return List.copyOf(BY_NAME.keySet()); }

    /** Tasks for a comma-separated list of names; an unknown name is an error listing the known ones. */
    public static List<Task> parse(String commaSeparated) {
        List<Task> tasks = new ArrayList<>();
        for (String raw : commaSeparated.split(",")) {
            String name = raw.strip();
            if (name.isEmpty()) continue;
            Supplier<Task> s = BY_NAME.get(name);
            if (s == null) throw new IllegalArgumentException("unknown task '" + name + "' (known: " + String.join(", ", names()) + ")");
            tasks.add(s.get());
        }
        if (tasks.isEmpty()) throw new IllegalArgumentException("no task named in '" + commaSeparated + "'");
        return tasks;
    }
}
