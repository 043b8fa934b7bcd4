package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Function;
import tern.model.LlamaConfig;

/**
 * The memory a training run needs, checked before anything is allocated, so a preset too large for the
 * machine ends with a clear message instead of an {@code OutOfMemoryError} (or the kernel's OOM killer)
 * half-way through building the model.
 *
 * <p>The estimate: every parameter in f32 four times (weight, gradient, AdamW's two moments: 16 bytes), plus
 * the activations one micro-batch keeps for the backward pass, roughly per token and layer
 * {@code 12·hidden + 4·intermediate + heads·seq} floats, and per token {@code 3·vocab} floats for the
 * logits, their softmax and its gradient. It is deliberately rough and only refuses runs that cannot fit at
 * all. Tensors live off the
 * Java heap, so it is compared with the physical memory available ({@code MemAvailable} of
 * {@code /proc/meminfo}, else the JVM's view of free physical memory); {@code -Dtern.memory.available=BYTES}
 * overrides that (tests, containers that misreport).
 */
public final class MemoryPlan {
    public static final String AVAILABLE_PROPERTY = "tern.memory.available";

    private final String what;
    private final LlamaConfig model;
    private final long parameters;
    private final long weightBytes;
    private final long activationBytes;

    private MemoryPlan(String what, LlamaConfig model, long activationBytes) {
        this.what = what;
        this.model = model;
        this.parameters = model.parameterCount();
        this.weightBytes = parameters * 16;
        this.activationBytes = activationBytes;
    }

    /** The plan of training {@code model} with {@code config}'s micro-batches. */
    public static MemoryPlan training(LlamaConfig model, TrainConfig config) {
        long tokens = (long) config.batch() * config.seq();
        long perTokenLayer = 12L * model.hidden() + 4L * model.intermediate() + (long) model.heads() * config.seq();
        long floats = tokens * (perTokenLayer * model.layers() + 3L * model.vocabSize());
        return new MemoryPlan("training the " + config.preset() + " preset (" + config.precision().describe(config.steps()) + ", batch "
                + config.batch() + "×" + config.seq() + ")", model, floats * 4);
    }

    public long bytesNeeded() { return weightBytes + activationBytes; }

    /** Physical memory available for tensors now, in bytes; -1 when unknown. */
    public static long available() {
        String forced = System.getProperty(AVAILABLE_PROPERTY);
        if (forced != null) return Long.parseLong(forced.strip());
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo")))
                if (line.startsWith("MemAvailable:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException | RuntimeException notLinux) {
            // fall through to the JVM's view
        }
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
            return os.getFreeMemorySize();
        return -1;
    }

    /** Throws {@link InsufficientMemory} when the estimate exceeds what is available. */
    public MemoryPlan check() {
        long available = available();
        if (available >= 0 && bytesNeeded() > available) throw new InsufficientMemory(message(available));
        return this;
    }

    /**
     * Checks, then builds the model of this plan: an {@code OutOfMemoryError} from the off-heap allocations (the estimate was too
     * low, or memory went elsewhere meanwhile) becomes the same clear error.
     */
    public <T> T allocate(Function<LlamaConfig, T> build) {
        check();
        try {
            return build.apply(model);
        } catch (OutOfMemoryError e) {
            throw new InsufficientMemory(message(available()) + " (allocation failed: " + e.getMessage() + ")");
        }
    }

    private String message(long available) {
        return String.format(Locale.ROOT, "not enough memory for %s: it needs about %s (%,d parameters × 16 bytes for weights, "
                        + "gradients and two AdamW moments = %s, plus about %s of activations), %s available; "
                        + "choose a smaller preset, batch or sequence length",
                what, gb(bytesNeeded()), parameters, gb(weightBytes), gb(activationBytes),
                available < 0 ? "unknown" : gb(available));
    }

    private static String gb(long bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }

    /** A run that does not fit in memory: the message gives the estimate and what is available. */
    public static final class InsufficientMemory extends RuntimeException {
        public InsufficientMemory(String message) { super(message); }
    }
}
