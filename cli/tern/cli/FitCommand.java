package tern.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import tern.checkpoint.Json;
import tern.eval.Law;
import tern.eval.Plot;
import tern.eval.ScalingFit;

/**
 * {@code tern fit}: fits a scaling law of SPEC.md §3 to a sweep's runs (or to PTQ results), prints the
 * constants with their standard errors and the fit error, and draws the points with the fitted curves.
 */
final class FitCommand {
    private FitCommand() {}

    static final String USAGE = """
            usage: tern fit --runs DIR --law chinchilla|precision|ptq [--out FILE.png] [--skip F] [--method gptq|rtn]
              --runs DIR     chinchilla, precision: a sweep's folder (DIR/*/result.json);
                             ptq: a folder searched for quantization.json files (from tern quantize)
              --law L        chinchilla: L = A·N^-α + B·D^-β + E over float runs (every validation of each run)
                             precision: N → N·(1 − e^(−P_w/γ_w)) over the float and k-bit runs of one size (ternary,
                                        binary and other sizes are drawn but not fitted; switched runs are left out)
                             ptq: δ = C_T·D^γ_D·N^−γ_N·e^(−P/γ_post) over the quantizations of one method
              --all-sizes    precision: fit the runs of every size (default: the size with the most weight
                             precisions, where N·(1 − e^(−P/γ_w)) is separated from N by the bits alone)
              --skip F       drop validations in the first fraction F of each run (warmup)                   [0.25]
              --method M     ptq: which quantizations to fit                                                 [gptq]
              --fix FILE     hold the constants a fit wrote (FILE.json from an earlier tern fit) that this law
                             shares, e.g. A, α, B, β, E of a Chinchilla fit of the FloatLMs on the same recipe,
                             so the precision law fits γ_w alone (one size cannot tell N's exponent from γ_w)
              --out FILE     the plot (PNG) [DIR/fit-LAW.png]; the constants go to the same name with .json""";

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args a = Args.parse("fit", argv, Set.of("runs", "law", "out", "skip", "method", "fix"), Set.of("all-sizes"));
        Path dir = Path.of(a.required("runs"));
        if (!Files.isDirectory(dir)) throw new UsageException("--runs " + dir + ": no such folder");
        Law law;
        try {
            law = Law.parse(a.required("law"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        double skip = a.doubleValue("skip", 0.25);
        if (skip < 0 || skip >= 1) throw new UsageException("--skip must be a fraction in [0, 1), got " + skip);
        Path png = Path.of(a.string("out", dir.resolve("fit-" + law.name().toLowerCase(Locale.ROOT) + ".png").toString()));
        System.setProperty("java.awt.headless", "true");
        Data d = switch (law) {
            case CHINCHILLA -> fromRuns(dir, law, skip);
            case PRECISION -> a.has("all-sizes") ? fromRuns(dir, law, skip) : oneSize(fromRuns(dir, law, skip));
            case PTQ -> fromQuantizations(dir, a.string("method", "gptq"));
        };
        if (d.x.isEmpty()) throw new UsageException("no usable points for the " + law + " law under " + dir);
        double[][] x = d.x.toArray(double[][]::new);
        double[] y = d.y.stream().mapToDouble(Double::doubleValue).toArray();
        ScalingFit fit = a.has("fix") ? ScalingFit.fit(law, x, y, fixedConstants(law, Path.of(a.string("fix", ""))))
                : ScalingFit.fit(law, x, y);
        System.out.print(fit.describe());
        boolean plotted = false;
        try {
            plot(law, fit, d).writePng(png, 900, 620);
            plotted = true;
        } catch (NoClassDefFoundError e) {           // a trimmed runtime without java.desktop (the GPU machine's)
            System.err.println("tern fit: plot skipped: this Java runtime has no java.desktop module (" + e.getMessage() + ")");
        }
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("law", law.name().toLowerCase(Locale.ROOT));
        json.put("points", fit.points());
        String[] names = law.names();
        Map<String, Object> constants = new LinkedHashMap<>();
        for (int i = 0; i < names.length; i++) constants.put(names[i], java.util.Arrays.asList(finite(fit.constants()[i]), finite(fit.errors()[i])));
        json.put("constants_with_stderr", constants);
        json.put("rmse", fit.rmse());
        json.put("max_relative_error", fit.maxRelError());
        json.put("max_abs_error", fit.maxAbsError());
        Path jsonFile = Path.of(png.toString().replaceAll("\\.png$", "") + ".json");
        Files.writeString(jsonFile, Json.pretty(json));
        System.out.println((plotted ? "plot " + png + ", constants " : "constants ") + jsonFile);
        return 0;
    }

    /** Fitted points, and points only drawn (e.g. ternary runs), each with a group label. */
    private record Data(List<double[]> x, List<Double> y, List<String> group, List<double[]> extraX, List<Double> extraY, List<String> extraGroup) {
        Data() { this(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>()); }
    }

    private static Data fromRuns(Path dir, Law law, double skip) throws IOException {
        Data d = new Data();
        List<Path> results;
        try (Stream<Path> s = Files.list(dir)) {
            results = s.map(p -> p.resolve("result.json")).filter(Files::isRegularFile).sorted().toList();
        }
        for (Path f : results) {
            Map<String, Object> r = Json.parseObject(Files.readString(f));
            double n = num(r, "non_embedding_params", f), bits = num(r, "weight_bits", f);
            long steps = (long) num(r, "steps", f);
            boolean switched = r.get("precision") instanceof Map<?, ?> p && p.containsKey("switch_to");
            boolean floatActs = num(r, "act_bits", f) >= 16 && num(r, "kv_bits", f) >= 16;
            boolean integer = bits == Math.rint(bits) && bits >= 2;
            boolean fitted = floatActs && !switched && (law == Law.CHINCHILLA ? bits >= 16 : integer);
            String group = law == Law.CHINCHILLA ? String.format(Locale.ROOT, "N = %,.0f", n)
                    : String.format(Locale.ROOT, "N = %,.0f, %s", n, bits >= 16 ? "float" : integer ? "int" + (int) bits : "ternary");
            if (!(r.get("val_curve") instanceof List<?> curve)) continue;
            for (Object o : curve) {
                List<?> pt = (List<?>) o;
                long step = ((Number) pt.get(0)).longValue();
                double tokens = ((Number) pt.get(1)).doubleValue(), loss = ((Number) pt.get(2)).doubleValue();
                if (step < skip * steps || !(loss > 0)) continue;
                double[] x = law == Law.CHINCHILLA ? new double[]{n, tokens} : new double[]{n, tokens, bits};
                if (fitted) {
                    d.x.add(x);
                    d.y.add(loss);
                    d.group.add(group);
                } else if (!switched && floatActs) {
                    d.extraX.add(x);
                    d.extraY.add(loss);
                    d.extraGroup.add(group);
                }
            }
        }
        return d;
    }

    /**
     * The precision law's points restricted to the model size trained at the most weight precisions: with a
     * few sizes whose losses barely follow N (our CPU runs), N and γ_w are only told apart through the bits
     * at one size. The other sizes' points are kept for the plot, not fitted.
     */
    private static Data oneSize(Data all) {
        Map<Double, java.util.Set<Double>> bitsBySize = new TreeMap<>();
        for (double[] x : all.x) bitsBySize.computeIfAbsent(x[0], k -> new java.util.TreeSet<>()).add(x[2]);
        double n = bitsBySize.entrySet().stream().max(java.util.Comparator.comparingInt(e -> e.getValue().size())).map(Map.Entry::getKey).orElse(0.0);
        Data d = new Data();
        for (int i = 0; i < all.x.size(); i++) {
            boolean keep = all.x.get(i)[0] == n;
            (keep ? d.x : d.extraX).add(all.x.get(i));
            (keep ? d.y : d.extraY).add(all.y.get(i));
            (keep ? d.group : d.extraGroup).add(all.group.get(i));
        }
        d.extraX.addAll(all.extraX);
        d.extraY.addAll(all.extraY);
        d.extraGroup.addAll(all.extraGroup);
        return d;
    }

    private static Data fromQuantizations(Path dir, String method) throws IOException {
        Data d = new Data();
        List<Path> files;
        try (Stream<Path> s = Files.walk(dir)) {
            files = s.filter(p -> p.getFileName().toString().equals("quantization.json")).sorted().toList();
        }
        for (Path f : files) {
            Map<String, Object> q = Json.parseObject(Files.readString(f));
            if (!method.equals(q.get("method"))) continue;
            double tokens = num(q, "training_tokens", f);
            if (tokens <= 0) continue;
            double n = num(q, "non_embedding_params", f), bits = num(q, "bits", f);
            double delta = num(q, "val_loss_after", f) - num(q, "val_loss_before", f);
            d.x.add(new double[]{n, tokens, bits});
            d.y.add(delta);
            d.group.add(String.format(Locale.ROOT, "%d-bit, N = %,.0f", (int) bits, n));
        }
        return d;
    }

    /**
     * The constants of an earlier fit's JSON (constants_with_stderr: name → [value, stderr]) that {@code law}
     * also has, each held at its value; the law's other constants are NaN (free).
     */
    static double[] fixedConstants(Law law, Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new UsageException("--fix " + file + ": no such file");
        Map<String, Object> json;
        try {
            json = Json.parseObject(Files.readString(file));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--fix " + file + ": not a tern fit JSON (" + e.getMessage() + ")");
        }
        if (!(json.get("constants_with_stderr") instanceof Map<?, ?> constants))
            throw new UsageException("--fix " + file + ": no 'constants_with_stderr' object (write it with tern fit)");
        String[] names = law.names();
        double[] fixed = new double[names.length];
        int held = 0;
        for (int i = 0; i < names.length; i++) {
            fixed[i] = Double.NaN;
            if (!constants.containsKey(names[i])) continue;
            if (!(constants.get(names[i]) instanceof List<?> pair) || pair.isEmpty() || !(pair.get(0) instanceof Number v))
                throw new UsageException("--fix " + file + ": constant '" + names[i] + "' has no value (undetermined in that fit)");
            fixed[i] = v.doubleValue();
            held++;
        }
        if (held == 0) throw new UsageException("--fix " + file + ": none of the " + law + " law's constants " + String.join(", ", names) + " is in it");
        if (held == names.length) throw new UsageException("--fix " + file + ": it holds every constant of the " + law + " law, leaving nothing to fit");
        return fixed;
    }

    /** JSON has no NaN: an undetermined value is written as null. */
    private static Double finite(double v) { return Double.isFinite(v) ? v : null; }

    private static double num(Map<String, Object> m, String key, Path file) {
        if (m.get(key) instanceof Number n) return n.doubleValue();
        throw new UsageException(file + ": no number '" + key + "'");
    }

    /** Points per group in one colour, the law's curve through the same group in that colour. */
    private static Plot plot(Law law, ScalingFit fit, Data d) {
        Plot p = switch (law) {
            case CHINCHILLA -> new Plot("Validation loss vs tokens, FloatLMs: L = A·N^-α + B·D^-β + E", "training tokens D", "validation loss", true, true);
            case PRECISION -> new Plot("Loss vs weight bits at the end of training: N_eff = N(1 - e^(-P/γ_w))", "weight bits P_w", "validation loss", false, false).legendAt(Plot.Corner.LOWER_RIGHT);
            case PTQ -> new Plot("PTQ loss increase vs tokens (largest model drawn): δ = C_T D^γ_D N^-γ_N e^(-P/γ_post)", "training tokens D", "δ_PTQ (loss after − before)", true, false).legendAt(Plot.Corner.UPPER_LEFT);
        };
        Map<String, List<double[]>> groups = new TreeMap<>(), extra = new TreeMap<>();
        if (law == Law.PRECISION) {
            // one point per run: its final validation (largest D), against its bits, per model size
            finalPoints(d.x, d.y, groups, true);
            finalPoints(d.extraX, d.extraY, extra, false);
        } else {
            for (int i = 0; i < d.x.size(); i++) {
                double[] x = d.x.get(i);
                groups.computeIfAbsent(d.group.get(i), k -> new ArrayList<>()).add(new double[]{x[1], d.y.get(i), x[0], x.length > 2 ? x[2] : 0});
            }
        }
        int color = 0;
        List<Map.Entry<String, List<double[]>>> ordered = new ArrayList<>(groups.entrySet());
        if (law == Law.PTQ) {
            // every size is fitted, but one size's bit widths already fill a legend: draw the largest model's
            double maxN = ordered.stream().mapToDouble(e -> e.getValue().getFirst()[2]).max().orElse(0);
            ordered.removeIf(e -> e.getValue().getFirst()[2] != maxN);
        }
        ordered.sort(java.util.Comparator.comparingDouble((Map.Entry<String, List<double[]>> e) -> e.getValue().getFirst()[3])
                .thenComparingDouble(e -> e.getValue().getFirst()[2]));         // by bits (PTQ), then by size
        for (Map.Entry<String, List<double[]>> e : ordered) {
            List<double[]> pts = e.getValue();
            double[] xs = pts.stream().mapToDouble(v -> v[0]).toArray(), ys = pts.stream().mapToDouble(v -> v[1]).toArray();
            p.add(new Plot.Series(e.getKey(), xs, ys, false, color));
            double n = pts.getFirst()[2], third = pts.getFirst()[3];
            double lo = java.util.Arrays.stream(xs).min().orElse(1), hi = java.util.Arrays.stream(xs).max().orElse(1);
            int k = 60;
            double[] cx = new double[k], cy = new double[k];
            for (int i = 0; i < k; i++) {
                double t = (double) i / (k - 1);
                cx[i] = law == Law.PRECISION ? lo + t * (hi - lo) : Math.exp(Math.log(lo) + t * (Math.log(hi) - Math.log(lo)));
                cy[i] = switch (law) {
                    case CHINCHILLA -> fit.predict(new double[]{n, cx[i]});
                    case PRECISION -> fit.predict(new double[]{n, third, cx[i]});
                    case PTQ -> fit.predict(new double[]{n, cx[i], third});
                };
            }
            p.add(new Plot.Series("fit, " + e.getKey(), cx, cy, true, color));
            color++;
        }
        for (Map.Entry<String, List<double[]>> e : extra.entrySet()) {
            List<double[]> pts = e.getValue();
            p.add(new Plot.Series(e.getKey() + " (not fitted)", pts.stream().mapToDouble(v -> v[0]).toArray(),
                    pts.stream().mapToDouble(v -> v[1]).toArray(), false, color++));
        }
        return p;
    }

    /**
     * For the precision plot: per model size, each run's last point as (bits, loss, N, D). Runs are told apart
     * by their (N, bits); the one with the most tokens is the final validation.
     */
    private static void finalPoints(List<double[]> xs, List<Double> ys, Map<String, List<double[]>> groups, boolean byN) {
        Map<String, double[]> last = new LinkedHashMap<>();
        for (int i = 0; i < xs.size(); i++) {
            double[] x = xs.get(i);
            String key = x[0] + "/" + x[2];
            double[] prev = last.get(key);
            if (prev == null || x[1] > prev[3]) last.put(key, new double[]{x[2], ys.get(i), x[0], x[1]});
        }
        for (double[] v : last.values()) {
            String g = String.format(Locale.ROOT, "N = %,.0f", v[2]) + (byN ? "" : v[0] < 2 ? ", ternary" : v[0] >= 16 ? ", float" : "");
            groups.computeIfAbsent(g, k -> new ArrayList<>()).add(v);
        }
        for (List<double[]> l : groups.values()) l.sort((p, q) -> Double.compare(p[0], q[0]));
    }
}
