package tern.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The headless chart: a readable PNG with each series' colour drawn, ticks where they belong, bad input refused. */
class PlotTest {
    @BeforeAll
    static void headless() { System.setProperty("java.awt.headless", "true"); }

    @Test
    void writesAPngWithEverySeriesColour(@TempDir Path tmp) throws Exception {
        double[] d = {1e6, 1e7, 1e8};
        Plot p = new Plot("test", "tokens", "loss", true, true)
                .add(new Plot.Series("points", d, new double[]{4, 3.5, 3.2}, false, 0))
                .add(new Plot.Series("fit", d, new double[]{4.1, 3.4, 3.25}, true, 1));
        Path file = tmp.resolve("sub/plot.png");
        p.writePng(file, 640, 480);
        BufferedImage img = ImageIO.read(file.toFile());
        assertEquals(640, img.getWidth());
        assertEquals(480, img.getHeight());
        assertTrue(count(img, Plot.PALETTE[0].getRGB()) > 30, "the points' colour is missing");
        assertTrue(count(img, Plot.PALETTE[1].getRGB()) > 30, "the line's colour is missing");
        assertTrue(Files.size(file) > 1000);
    }

    private static int count(BufferedImage img, int rgb) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++)
                if ((img.getRGB(x, y) & 0xffffff) == (rgb & 0xffffff)) n++;
        return n;
    }

    @Test
    void logTicksAtDecadesWithMinorTicksBetween() {
        List<double[]> t = Plot.ticks(3, 6, true);
        long majors = t.stream().filter(v -> v[1] == 1).count();
        assertEquals(4, majors);                                          // 1e3, 1e4, 1e5, 1e6
        assertEquals(4 + 3 * 8, t.size());
        assertTrue(t.stream().anyMatch(v -> Math.abs(v[0] - Math.log10(2e4)) < 1e-12));
        List<double[]> lin = Plot.ticks(0, 10, false);                   // step 2: 0, 2, …, 10
        assertEquals(6, lin.size());
        assertEquals(2, lin.get(1)[0], 1e-12);
    }

    @Test
    void nothingToDrawIsAnError() {
        Plot p = new Plot("empty", "x", "y", true, false).add(new Plot.Series("s", new double[]{-1}, new double[]{1}, false, 0));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> p.render(100, 100)).getMessage().contains("empty"));
        assertThrows(IllegalArgumentException.class, () -> new Plot.Series("s", new double[2], new double[3], false, 0));
    }
}
