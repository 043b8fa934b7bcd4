import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import tern.checkpoint.Json;
import tern.eval.Plot;

/**
 * Renders the study's figures from the plot specs collect.py writes (one JSON list of plots), with Tern's own
 * chart (tern.eval.Plot). Run as a source-file program on the built classes:
 *   java -Djava.awt.headless=true -cp target/classes tools/study/Plots.java experiments/gpu/plots/plots.json
 * A spec: {"file", "title", "x", "y", "log_x", "log_y", "legend": "upper_right|lower_right|upper_left",
 *          "series": [{"label", "x": [...], "y": [...], "line": bool, "color": int}]}; files are relative to the spec.
 */
public class Plots {
    public static void main(String[] args) throws Exception {
        Path spec = Path.of(args[0]);
        for (Object o : (List<?>) Json.parse(Files.readString(spec))) {
            Map<?, ?> p = (Map<?, ?>) o;
            Plot plot = new Plot((String) p.get("title"), (String) p.get("x"), (String) p.get("y"),
                    Boolean.TRUE.equals(p.get("log_x")), Boolean.TRUE.equals(p.get("log_y")));
            if (p.get("legend") != null) plot.legendAt(Plot.Corner.valueOf(((String) p.get("legend")).toUpperCase()));
            for (Object so : (List<?>) p.get("series")) {
                Map<?, ?> s = (Map<?, ?>) so;
                plot.add(new Plot.Series((String) s.get("label"), doubles(s.get("x")), doubles(s.get("y")),
                        Boolean.TRUE.equals(s.get("line")), ((Number) s.get("color")).intValue()));
            }
            Path file = spec.resolveSibling((String) p.get("file"));
            plot.writePng(file, 900, 600);
            System.out.println("wrote " + file);
        }
    }

    private static double[] doubles(Object list) {
        List<?> l = (List<?>) list;
        double[] d = new double[l.size()];
        for (int i = 0; i < d.length; i++) d[i] = ((Number) l.get(i)).doubleValue();
        return d;
    }
}
