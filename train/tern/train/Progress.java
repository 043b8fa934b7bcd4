package tern.train;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * The one-line progress display of a training run: step/total, smoothed loss, tokens/s, learning rate,
 * elapsed time and ETA. On a terminal the line is redrawn in place (carriage return) at most twice a
 * second; elsewhere (a file, a test) a full line is printed at most every ten seconds, so logs stay short.
 * Messages (validation results, checkpoints) are printed on their own line without breaking the display.
 */
public final class Progress {
    private static final long TERMINAL_REFRESH_NANOS = 500_000_000L;
    private static final long PLAIN_REFRESH_NANOS = 10_000_000_000L;
    /** Smoothing of the displayed loss: an exponential moving average, bias-corrected like Adam's moments. */
    private static final double SMOOTHING = 0.9;

    private final PrintStream out;
    private final long totalSteps;
    private final boolean terminal;
    private final LongSupplier clock;
    private final long startNanos;
    private final long startStep;
    private long lastDraw = Long.MIN_VALUE;
    private int lastWidth;
    private double average;
    private long averaged;
    private String line = "";

    /**
     * @param startStep the step the run (or its resumption) begins at: rates and the ETA are measured
     *                  from there
     */
    public Progress(PrintStream out, long startStep, long totalSteps, boolean terminal, LongSupplier nanoClock) {
        this.out = out;
        this.startStep = startStep;
        this.totalSteps = totalSteps;
        this.terminal = terminal;
        this.clock = nanoClock;
        this.startNanos = nanoClock.getAsLong();
    }

    /** Progress on standard output, redrawn in place when it is a terminal. */
    public static Progress onConsole(long startStep, long totalSteps) {
        return new Progress(System.out, startStep, totalSteps, System.console() != null, System::nanoTime);
    }

    /** The loss shown: the bias-corrected moving average of the losses reported so far. */
    public double smoothedLoss() {
        return averaged == 0 ? Double.NaN : average / (1 - Math.pow(SMOOTHING, averaged));
    }

    /** Records step {@code step} (updates applied so far) and redraws if enough time has passed. */
    public void update(long step, float loss, long tokensThisRun, double lr) {
        if (Float.isFinite(loss)) {
            average = SMOOTHING * average + (1 - SMOOTHING) * loss;
            averaged++;
        }
        long now = clock.getAsLong();
        long every = terminal ? TERMINAL_REFRESH_NANOS : PLAIN_REFRESH_NANOS;
        if (step < totalSteps && lastDraw != Long.MIN_VALUE && now - lastDraw < every) return;
        lastDraw = now;
        double seconds = (now - startNanos) / 1e9;
        long done = step - startStep;
        double perStep = done > 0 ? seconds / done : Double.NaN;
        line = String.format(Locale.ROOT, "step %d/%d | loss %.4f | %s tok/s | lr %.2e | %s elapsed | ETA %s",
                step, totalSteps, smoothedLoss(), rate(tokensThisRun / Math.max(seconds, 1e-9)), lr,
                clockTime(seconds), done > 0 ? clockTime(perStep * (totalSteps - step)) : "?");
        draw();
    }

    /** Prints a message on its own line, then redraws the progress line under it. */
    public void message(String text) {
        if (terminal) {
            out.print("\r" + " ".repeat(lastWidth) + "\r");
            out.println(text);
            if (!line.isEmpty()) { out.print(line); lastWidth = line.length(); }
            out.flush();
        } else {
            out.println(text);
        }
    }

    /** Ends the display (the cursor moves to a fresh line). */
    public void finish() {
        if (terminal && !line.isEmpty()) out.println();
        out.flush();
    }

    private void draw() {
        if (terminal) {
            out.print("\r" + line + " ".repeat(Math.max(0, lastWidth - line.length())));
            lastWidth = line.length();
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** 1234 → "1234", 56789 → "56.8k". */
    static String rate(double perSecond) {
        if (!Double.isFinite(perSecond)) return "?";
        if (perSecond >= 1e6) return String.format(Locale.ROOT, "%.2fM", perSecond / 1e6);
        if (perSecond >= 1e4) return String.format(Locale.ROOT, "%.1fk", perSecond / 1e3);
        return String.format(Locale.ROOT, "%.0f", perSecond);
    }

    /** Seconds as m:ss, or h:mm:ss from an hour. */
    static String clockTime(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, sec) : String.format(Locale.ROOT, "%d:%02d", m, sec);
    }
}
