package tern.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * A small headless Java2D chart for the scaling-law figures: measured points as markers, fitted laws as
 * lines, each series in a colour of a fixed palette and named in the legend; either axis linear or
 * logarithmic (decade ticks with minor ticks, or 1-2-5 ticks when the range is under a decade). Run with
 * {@code -Djava.awt.headless=true} on a machine without a display.
 */
public final class Plot {
    /** Points (markers) or a curve (line); series with the same colour index belong together. */
    public record Series(String label, double[] x, double[] y, boolean line, int color) {
        public Series {
            if (x.length != y.length) throw new IllegalArgumentException("series '" + label + "' has " + x.length + " x and " + y.length + " y values");
        }
    }

    static final Color[] PALETTE = {
            new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf), new Color(0x7f7f7f)};

    private final String title, xLabel, yLabel;
    private final boolean logX, logY;
    private final List<Series> series = new ArrayList<>();
    private Corner legend = Corner.UPPER_RIGHT;

    /** Where the legend box goes (pick the corner the data leave empty). */
    public enum Corner { UPPER_RIGHT, LOWER_RIGHT, UPPER_LEFT }

    public Plot(String title, String xLabel, String yLabel, boolean logX, boolean logY) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.logX = logX;
        this.logY = logY;
    }

    public Plot legendAt(Corner corner) {
        legend = corner;
        return this;
    }

    public Plot add(Series s) {
        series.add(s);
        return this;
    }

    /** Renders the chart; throws when no finite point is plottable. */
    public BufferedImage render(int width, int height) {
        double[] xr = range(true), yr = range(false);
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            int left = 90, right = 30, top = 50, bottom = 70;
            Frame f = new Frame(left, top, width - left - right, height - top - bottom, xr, yr);
            drawAxes(g, f);
            g.setClip(f.x0, f.y0, f.w + 1, f.h + 1);
            for (Series s : series) drawSeries(g, f, s);
            g.setClip(null);
            drawLegend(g, f);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            centered(g, title, width / 2, 30);
        } finally {
            g.dispose();
        }
        return img;
    }

    public void writePng(Path file, int width, int height) throws IOException {
        if (file.getParent() != null) Files.createDirectories(file.getParent());
        if (!ImageIO.write(render(width, height), "png", file.toFile())) throw new IOException("no PNG writer for " + file);
    }

    /** Plot area and data ranges (in axis space: log10 for log axes). */
    private final class Frame {
        final int x0, y0, w, h;
        final double xMin, xMax, yMin, yMax;

        Frame(int x0, int y0, int w, int h, double[] xr, double[] yr) {
            this.x0 = x0;
            this.y0 = y0;
            this.w = w;
            this.h = h;
            xMin = xr[0];
            xMax = xr[1];
            yMin = yr[0];
            yMax = yr[1];
        }

        double px(double x) { return x0 + (axis(x, logX) - xMin) / (xMax - xMin) * w; }
        double py(double y) { return y0 + h - (axis(y, logY) - yMin) / (yMax - yMin) * h; }
    }

    private static double axis(double v, boolean log) { return log ? Math.log10(v) : v; }

    /** The data range in axis space: of the measured points when there are any (fitted curves are clipped to it). */
    private double[] range(boolean isX) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        boolean log = isX ? logX : logY;
        boolean anyPoints = series.stream().anyMatch(s -> !s.line());
        for (Series s : series) {
            if (anyPoints && s.line() && !isX) continue;
            double[] v = isX ? s.x() : s.y();
            for (double d : v) {
                if (!Double.isFinite(d) || (log && d <= 0)) continue;
                lo = Math.min(lo, axis(d, log));
                hi = Math.max(hi, axis(d, log));
            }
        }
        if (lo > hi) throw new IllegalArgumentException("plot '" + title + "' has no finite point to draw");
        if (hi - lo < 1e-12) {
            lo -= 0.5;
            hi += 0.5;
        }
        double pad = 0.05 * (hi - lo);
        return new double[]{lo - pad, hi + pad};
    }

    private void drawAxes(Graphics2D g, Frame f) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (double[] t : ticks(f.xMin, f.xMax, logX)) {
            int x = (int) Math.round(f.x0 + (t[0] - f.xMin) / (f.xMax - f.xMin) * f.w);
            boolean major = t[1] == 1;
            g.setColor(major ? new Color(0xdddddd) : new Color(0xf0f0f0));
            g.drawLine(x, f.y0, x, f.y0 + f.h);
            g.setColor(Color.BLACK);
            g.drawLine(x, f.y0 + f.h, x, f.y0 + f.h + (major ? 6 : 3));
            if (major) centered(g, label(t[0], logX), x, f.y0 + f.h + 20);
        }
        for (double[] t : ticks(f.yMin, f.yMax, logY)) {
            int y = (int) Math.round(f.y0 + f.h - (t[0] - f.yMin) / (f.yMax - f.yMin) * f.h);
            boolean major = t[1] == 1;
            g.setColor(major ? new Color(0xdddddd) : new Color(0xf0f0f0));
            g.drawLine(f.x0, y, f.x0 + f.w, y);
            g.setColor(Color.BLACK);
            g.drawLine(f.x0 - (major ? 6 : 3), y, f.x0, y);
            if (major) {
                String s = label(t[0], logY);
                g.drawString(s, f.x0 - 10 - g.getFontMetrics().stringWidth(s), y + 4);
            }
        }
        g.setColor(Color.BLACK);
        g.drawRect(f.x0, f.y0, f.w, f.h);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        centered(g, xLabel + (logX ? " (log scale)" : ""), f.x0 + f.w / 2, f.y0 + f.h + 48);
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        centered(g, yLabel + (logY ? " (log scale)" : ""), -(f.y0 + f.h / 2), 24);
        g.setTransform(saved);
    }

    /** Tick positions in axis space, each {position, 1 for major / 0 for minor}. */
    static List<double[]> ticks(double lo, double hi, boolean log) {
        List<double[]> out = new ArrayList<>();
        if (log && hi - lo >= 1) {
            for (int k = (int) Math.floor(lo); k <= Math.ceil(hi); k++)
                for (int m = 1; m <= 9; m++) {
                    double v = k + Math.log10(m);
                    if (v >= lo && v <= hi) out.add(new double[]{v, m == 1 ? 1 : 0});
                }
            return out;
        }
        double a = log ? Math.pow(10, lo) : lo, b = log ? Math.pow(10, hi) : hi;
        double step = niceStep((b - a) / 6);
        for (double v = Math.ceil(a / step) * step; v <= b + 1e-9 * step; v += step)
            out.add(new double[]{log ? Math.log10(v) : v, 1});
        return out;
    }

    private static double niceStep(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[]{1, 2, 5, 10}) if (m * p >= raw) return m * p;
        return 10 * p;
    }

    private static String label(double axisValue, boolean log) {
        double v = log ? Math.pow(10, axisValue) : axisValue;
        if (Math.abs(v) < 1e-12) v = 0;                        // a tick at 0 computed as ±1e-19 reads "-0"
        double a = Math.abs(v);
        if (a != 0 && (a >= 1e4 || a < 1e-3)) {
            int e = (int) Math.floor(Math.log10(a) + 1e-9);
            double m = v / Math.pow(10, e);
            String mant = String.format(Locale.ROOT, "%.3g", m);
            if (mant.contains(".")) mant = mant.replaceAll("0+$", "").replaceAll("\\.$", "");
            return mant.equals("1") ? "1e" + e : mant + "e" + e;
        }
        String s = String.format(Locale.ROOT, "%.4g", v);
        if (s.contains(".") && !s.contains("e")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
        return s;
    }

    private void drawSeries(Graphics2D g, Frame f, Series s) {
        Color c = PALETTE[Math.floorMod(s.color(), PALETTE.length)];
        g.setColor(c);
        if (s.line()) {
            g.setStroke(new BasicStroke(2f));
            Path2D.Double path = new Path2D.Double();
            boolean started = false;
            for (int i = 0; i < s.x().length; i++) {
                if (!plottable(s.x()[i], s.y()[i])) {
                    started = false;
                    continue;
                }
                double px = f.px(s.x()[i]), py = f.py(s.y()[i]);
                if (started) path.lineTo(px, py);
                else path.moveTo(px, py);
                started = true;
            }
            g.draw(path);
            g.setStroke(new BasicStroke(1f));
        } else {
            for (int i = 0; i < s.x().length; i++) {
                if (!plottable(s.x()[i], s.y()[i])) continue;
                double px = f.px(s.x()[i]), py = f.py(s.y()[i]);
                g.fill(new Ellipse2D.Double(px - 4, py - 4, 8, 8));
            }
        }
    }

    private boolean plottable(double x, double y) {
        return Double.isFinite(x) && Double.isFinite(y) && !(logX && x <= 0) && !(logY && y <= 0);
    }

    private void drawLegend(Graphics2D g, Frame f) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        int wMax = 0;
        for (Series s : series) wMax = Math.max(wMax, fm.stringWidth(s.label()));
        int lineH = 18, boxW = wMax + 44, boxH = series.size() * lineH + 10;
        int bx = legend == Corner.UPPER_LEFT ? f.x0 + 10 : f.x0 + f.w - boxW - 10;
        int by = legend == Corner.LOWER_RIGHT ? f.y0 + f.h - boxH - 10 : f.y0 + 10;
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(bx, by, boxW, boxH);
        g.setColor(Color.GRAY);
        g.drawRect(bx, by, boxW, boxH);
        int y = by + 5 + lineH / 2;
        for (Series s : series) {
            g.setColor(PALETTE[Math.floorMod(s.color(), PALETTE.length)]);
            if (s.line()) {
                g.setStroke(new BasicStroke(2f));
                g.drawLine(bx + 8, y, bx + 30, y);
                g.setStroke(new BasicStroke(1f));
            } else {
                g.fill(new Ellipse2D.Double(bx + 15, y - 4, 8, 8));
            }
            g.setColor(Color.BLACK);
            g.drawString(s.label(), bx + 38, y + 4);
            y += lineH;
        }
    }

    private static void centered(Graphics2D g, String s, int x, int y) {
        g.drawString(s, x - g.getFontMetrics().stringWidth(s) / 2, y);
    }
}
