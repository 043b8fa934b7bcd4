package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Function;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.runtime.Backend;
import tern.runtime.Device;
import tern.runtime.Tape;

/**
 * The memory a training run needs, checked before anything is allocated, so a preset too large for the
 * machine ends with a clear message instead of an {@code OutOfMemoryError}, the kernel's OOM killer or a
 * failed device allocation half-way through building the model, and the choice of activation
 * checkpointing ({@link tern.runtime.Tape#checkpoint}) when the run fits only with it.
 *
 * <p>The estimate, in bytes (h = hidden, f = intermediate, T = tokens of one micro-batch, L = layers):
 * <ul>
 *   <li>every parameter in f32 four times (weight, gradient, AdamW's two moments: 16 bytes), plus the
 *       block weights as a step uses them (a packed ternary copy, ½ bit… 2 bits, or an f32 quantized copy);
 *   <li>the activations the tape holds at its peak, in the backward pass: per token and layer about
 *       14h + 4f floats kept by the forward (plus the fake-quantized copies), and about 8h + 3f of
 *       gradients alive at once (the tape frees each gradient once its op's backward has consumed it).
 *       With checkpointing, each block keeps only its input (h per token and layer) and one block at a
 *       time holds the rest;
 *   <li>the LM head's loss in chunks ({@link Tape#LOGITS_CHUNK_FLOATS} logits and as many gradients),
 *       the head's weight gradient, and a few h-wide tensors per token around it;
 *   <li>working space: the largest block weight unpacked in f32, bf16 staging of attention operands, and
 *       512 MiB for libraries (cuBLAS, the scratch buffers).
 * </ul>
 * Activations are counted in the backend's {@link Backend#activationType} (2 bytes for bf16; then every block
 * weight also has a bf16 copy, the operand the products read), the rest in f32.
 * It is deliberately rough: on the H200 it was 4 % over the measured peak for the 1.1B TriLM at 8×2048
 * (no checkpointing) and 6 % over for the 3.9B with every block checkpointed (BENCHMARKS.md), and it
 * refuses only runs that cannot fit. What is available: on a GPU the device's free memory (cuMemGetInfo
 * through {@link Backend#memoryAvailable}), on the host the physical memory ({@code MemAvailable} of
 * {@code /proc/meminfo}, else the JVM's view of free physical memory); {@code -Dtern.memory.available=BYTES}
 * overrides either (tests, containers that misreport). 10 % of it is left as headroom (fragmentation, what the
 * estimate misses).
 */
public final class MemoryPlan {
    public static final String AVAILABLE_PROPERTY = "tern.memory.available";
    /** The checkpointing choices of the train setting {@code checkpoint_activations}. */
    public static final java.util.List<String> CHECKPOINTING = java.util.List.of("auto", "on", "off");

    private final String what;
    private final LlamaConfig model;
    private final String checkpointing;
    private final long available;
    private final String availableFrom;
    private final long parameters;
    private final long weightBytes;
    private final long perBlockKept, perBlockCheckpointed, shared;
    private final int blocks, checkpointed;

    private MemoryPlan(String what, LlamaConfig model, TrainConfig config, String checkpointing, long available, String availableFrom,
                       int activationBytes, int tensorParallel) {
        if (!CHECKPOINTING.contains(checkpointing))
            throw new IllegalArgumentException("train setting 'checkpoint_activations' must be one of " + CHECKPOINTING + ", got '" + checkpointing + "'");
        this.what = what;
        this.model = model;
        this.checkpointing = checkpointing;
        this.available = available;
        this.availableFrom = availableFrom;
        // a tensor-parallel rank holds 1/K of every block linear (and of its prepared copy); its activations
        // are still counted whole, which over-estimates them (q/k/v, attention and the MLP's are sliced too)
        long linear = model.linearParametersPerLayer() * model.layers();
        this.parameters = model.parameterCount() - linear + linear / tensorParallel;
        this.weightBytes = parameters * 16 + (activationBytes == 4 ? preparedWeightBytes(model) / tensorParallel
                : (long) activationBytes * linear / tensorParallel);
        long tokens = (long) config.batch() * config.seq();
        long h = model.hidden(), f = model.intermediate();
        // One block's forward, per token: 11h + 3f counted from the ops (norms, q/k/v, RoPE, attention, o, the
        // residual adds, gate/up, SwiGLU, down); 14h + 4f is what the H200 measured (1.1B and 3.9B TriLMs at
        // 8×2048: 4.87 GiB a block at 3.9B, with the bf16 attention path's staging): the larger is used.
        long kept = 14 * h + 4 * f + 2 + model.heads() + quantizedCopies(model);
        long working = 8 * h + 3 * f;                                                // gradients alive at once in a block's backward
        long head = 2 * Math.min(tokens, Math.max(1, Tape.LOGITS_CHUNK_FLOATS / model.vocabSize())) * model.vocabSize()
                + 6 * tokens * h + (long) model.vocabSize() * h;
        long workspace = 4 * f * h + 4 * tokens * h;             // in floats; + the libraries' 512 MiB below
        long fixed = 4 * (head + workspace) + (512L << 20);
        long a = activationBytes;
        this.perBlockKept = a * tokens * kept;
        this.perBlockCheckpointed = a * tokens * h;
        this.shared = a * tokens * (working + 2 * h) + fixed;
        this.blocks = model.layers();
        this.checkpointed = decideBlocks();
    }

    /** Activation bytes when the first n of the blocks are checkpointed. */
    private long activationBytes(int n) {
        return (blocks - n) * perBlockKept + n * perBlockCheckpointed + (n > 0 ? perBlockKept : 0) + shared;
    }

    private int decideBlocks() {
        return switch (checkpointing) {
            case "on" -> blocks;
            case "off" -> 0;
            default -> {
                if (available < 0) yield 0;
                int n = 0;
                while (n < blocks && weightBytes + activationBytes(n) > usable()) n++;
                yield n;
            }
        };
    }

    /** The plan of training {@code model} with {@code config}'s micro-batches on the host (CPU backend). */
    public static MemoryPlan training(LlamaConfig model, TrainConfig config) {
        return training(model, config, null);
    }

    /** The plan of training {@code model} with {@code config}'s micro-batches on {@code backend}'s device. */
    public static MemoryPlan training(LlamaConfig model, TrainConfig config, Backend backend) {
        return training(model, config, backend, 1);
    }

    /** As {@link #training(LlamaConfig, TrainConfig, Backend)} for one rank of {@code tensorParallel}-way tensor parallelism. */
    public static MemoryPlan training(LlamaConfig model, TrainConfig config, Backend backend, int tensorParallel) {
        String forced = System.getProperty(AVAILABLE_PROPERTY);
        long available;
        String from;
        if (forced != null) {
            available = Long.parseLong(forced.strip());
            from = "-D" + AVAILABLE_PROPERTY;
        } else if (backend != null && backend.device() != Device.CPU) {
            available = backend.memoryAvailable();
            from = "free on " + backend.name();
        } else {
            available = available();
            from = "physical memory";
        }
        int activationBytes = backend == null ? 4 : (int) backend.activationType().bytesFor(1);
        return new MemoryPlan("training the " + config.preset() + " preset (" + config.precision().describe(config.steps()) + ", batch "
                + config.batch() + "×" + config.seq() + ")", model, config, config.checkpointActivations(), available, from,
                activationBytes, tensorParallel);
    }

    /** Whether the run checkpoints activations: asked for ("on"), or needed to fit ("auto"). */
    public boolean checkpointActivations() { return checkpointed > 0; }

    /**
     * How many blocks (the first ones) checkpoint their activations: all with "on", none with "off", and
     * with "auto" the fewest that make the estimate fit (each costs one more forward of its block).
     */
    public int checkpointedBlocks() { return checkpointed; }

    public long bytesNeeded() { return weightBytes + activationBytes(); }

    private long activationBytes() { return activationBytes(checkpointed); }

    private long usable() { return available - available / 10; }

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
        if (available >= 0 && bytesNeeded() > usable()) throw new InsufficientMemory(message());
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
            throw new InsufficientMemory(message() + " (allocation failed: " + e.getMessage() + ")");
        } catch (IllegalStateException e) {
            if (e.getMessage() == null || !e.getMessage().startsWith("cannot allocate")) throw e;
            throw new InsufficientMemory(message() + " (device allocation failed: " + e.getMessage() + ")");
        }
    }

    /** One line for the log: the estimate, what is available, and whether activations are checkpointed. */
    public String describe() {
        return String.format(Locale.ROOT, "memory plan for %s: about %s (%s weights and optimizer state, %s activations%s), %s %s",
                what, gb(bytesNeeded()), gb(weightBytes), gb(activationBytes()),
                checkpointed == 0 ? "" : ", activations of " + checkpointed + " of " + blocks + " blocks checkpointed",
                available < 0 ? "unknown" : gb(available), availableFrom);
    }

    private String message() {
        boolean ckpt = checkpointActivations();
        String hint = checkpointing.equals("off")
                ? "; activation checkpointing (checkpoint_activations auto or on) would need about " + gb(weightBytes + activationBytes(blocks))
                : "";
        return String.format(Locale.ROOT, "not enough memory for %s: it needs about %s (%,d parameters × 16 bytes for weights, "
                        + "gradients and two AdamW moments, with the weights as a step uses them = %s, plus about %s of activations%s), "
                        + "%s available (%s)%s; choose a smaller preset, batch or sequence length",
                what, gb(bytesNeeded()), parameters, gb(weightBytes), gb(activationBytes()),
                ckpt ? " with " + checkpointed + " of " + blocks + " blocks checkpointed" : "", available < 0 ? "unknown" : gb(available), availableFrom, hint);
    }

    /** The block weights as one step prepares them: packed ternary (2 bits), or an f32 quantized copy. */
    private static long preparedWeightBytes(LlamaConfig model) {
        long linear = model.linearParametersPerLayer() * model.layers();
        var precision = model.precision();
        if (precision.weights() instanceof LinearPolicy.Float || precision.phaseIn() == 0f) return 0;
        if (precision.weights() instanceof LinearPolicy.Ternary && precision.phaseIn() == 1f) return linear / 4;
        return 4 * linear;
    }

    /** Floats per token and layer of the fake-quantized activation and KV copies. */
    private static long quantizedCopies(LlamaConfig model) {
        long h = model.hidden(), f = model.intermediate();
        long copies = 0;
        if (model.precision().activationBits() > 0) copies += 3 * h + f;
        if (model.precision().kvBits() > 0) copies += 2 * h;
        return copies;
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
