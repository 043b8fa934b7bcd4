package tern.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tern.checkpoint.Json;

/**
 * The run's log, {@code train_log.jsonl}: one JSON object per line, a "train" line for every optimizer step
 * and a "val" line for every validation. Each line is flushed as it is written, so a crash loses at most
 * the step in flight. Floats are written as their exact decimal (float → double → shortest repr), so a
 * log read back gives the identical bits.
 *
 * <p>On resume, lines after the checkpoint's step (written by the interrupted run after its last save)
 * are dropped first: the resumed run writes them again, and the log reads as one uninterrupted run.
 */
public final class TrainLog implements AutoCloseable {
    public static final String FILE = "train_log.jsonl";

    /** One optimizer step. {@code step} counts from 1 (the number of updates applied so far). */
    public record Step(long step, float loss, double lr, double weightDecay, double gradNorm, long tokens, double seconds) {
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("kind", "train");
            m.put("step", step);
            m.put("loss", (double) loss);
            m.put("lr", lr);
            m.put("wd", weightDecay);
            m.put("grad_norm", gradNorm);
            m.put("tokens", tokens);
            m.put("seconds", Math.round(seconds * 1000) / 1000.0);
            return m;
        }
    }

    /** One validation: mean loss over the fixed validation batches after {@code step} updates. */
    public record Validation(long step, double loss, long tokens) {
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("kind", "val");
            m.put("step", step);
            m.put("val_loss", loss);
            m.put("tokens", tokens);
            return m;
        }
    }

    private final Path file;
    private final BufferedWriter writer;

    private TrainLog(Path file, BufferedWriter writer) {
        this.file = file;
        this.writer = writer;
    }

    /** A fresh log in {@code dir} (an existing one is replaced). */
    public static TrainLog create(Path dir) {
        try {
            Files.createDirectories(dir);
            Path f = dir.resolve(FILE);
            return new TrainLog(f, Files.newBufferedWriter(f, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the training log in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The log in {@code dir} kept up to step {@code step} inclusive, open for appending. */
    public static TrainLog resume(Path dir, long step) {
        Path f = dir.resolve(FILE);
        try {
            Files.createDirectories(dir);
            List<String> kept = new ArrayList<>();
            if (Files.exists(f)) {
                for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) continue;
                    Map<String, Object> m;
                    try {
                        m = Json.parseObject(line);
                    } catch (Json.JsonException e) {
                        break;                       // a torn last line from a crash: drop it and what follows
                    }
                    if (m.get("step") instanceof Number n && n.longValue() <= step) kept.add(line);
                }
            }
            Files.write(f, kept, StandardCharsets.UTF_8);
            return new TrainLog(f, Files.newBufferedWriter(f, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reopen the training log " + f + ": " + e.getMessage(), e);
        }
    }

    public Path file() { return file; }

    public void write(Step s) { line(s.toJson()); }

    public void write(Validation v) { line(v.toJson()); }

    /**
     * An "fp16_overflow" line: step {@code step} ran its micro-batches {@code retried} more time(s) because the
     * fp16 gradients overflowed; {@code total} overflows so far, the loss scale is now {@code scale}.
     */
    public void writeOverflow(long step, long retried, long total, float scale) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("kind", "fp16_overflow");
        m.put("step", step);
        m.put("retried", retried);
        m.put("overflows", total);
        m.put("loss_scale", (double) scale);
        line(m);
    }

    /** A "session" line: where a (resumed) invocation starts and what computes it (device, compute type). */
    public void writeSession(Map<String, Object> fields) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("kind", "session");
        m.putAll(fields);
        line(m);
    }

    private void line(Map<String, Object> m) {
        try {
            writer.write(Json.write(m));
            writer.newLine();
            writer.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the training log " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads a log: its "train" lines as steps, in file order (tests, plots). */
    public static List<Step> readSteps(Path file) throws IOException {
        List<Step> out = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.isBlank()) continue;
            Map<String, Object> m = Json.parseObject(line);
            if (!"train".equals(m.get("kind"))) continue;
            out.add(new Step(num(m, "step").longValue(), num(m, "loss").floatValue(), num(m, "lr").doubleValue(),
                    num(m, "wd").doubleValue(), num(m, "grad_norm").doubleValue(), num(m, "tokens").longValue(),
                    num(m, "seconds").doubleValue()));
        }
        return out;
    }

    /** Reads a log's "val" lines. */
    public static List<Validation> readValidations(Path file) throws IOException {
        List<Validation> out = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.isBlank()) continue;
            Map<String, Object> m = Json.parseObject(line);
            if (!"val".equals(m.get("kind"))) continue;
            out.add(new Validation(num(m, "step").longValue(), num(m, "val_loss").doubleValue(), num(m, "tokens").longValue()));
        }
        return out;
    }

    private static Number num(Map<String, Object> m, String key) {
        if (m.get(key) instanceof Number n) return n;
        throw new IllegalArgumentException("training log line lacks the number '" + key + "': " + Json.write(m));
    }

    @Override
    public void close() {
        try {
            writer.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the training log " + file + ": " + e.getMessage(), e);
        }
    }
}
