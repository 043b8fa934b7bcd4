package tern.reliability;

import java.lang.management.ManagementFactory;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import tern.checkpoint.CheckpointException;
import tern.checkpoint.Json;
import tern.eval.TaskFormatException;
import tern.model.TokenizerFormatException;
import tern.train.DataException;

/**
 * One parser under fuzzing: valid seed files, the call that reads one, and the verdict on what it threw.
 *
 * <p>"Clear" errors, the only exceptions a parser may throw on a damaged file: {@link CheckpointException},
 * {@link DataException}, {@link TokenizerFormatException}, {@link TaskFormatException}, or
 * {@link IllegalArgumentException} (not its subclass NumberFormatException), whose message names the file
 * (its path, or for a manifest the path of the file of its folder that it lists), and whose causes, if any, are of those types, {@link Json.JsonException},
 * or I/O exceptions. Anything else is a bug: NullPointerException, IndexOutOfBounds, NegativeArraySize,
 * ClassCast, Arithmetic, NumberFormat, IllegalState, OutOfMemoryError, StackOverflowError, an unnamed file,
 * a parse slower than {@link #TIMEOUT_SECONDS}, or one that allocates more heap than
 * {@code 4 × (the seed's allocation) + 256 × (the input's length) + 1 MiB} bytes.
 */
final class FuzzTarget {
    static final long TIMEOUT_SECONDS = 20;
    private static final Set<Class<? extends Throwable>> CLEAR = Set.of(CheckpointException.class, DataException.class,
            TokenizerFormatException.class, TaskFormatException.class, IllegalArgumentException.class);
    private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static ExecutorService worker = newWorker();

    /** A valid file: where mutated bytes are written (other files of the set stay valid) and its bytes. */
    record Seed(String label, Path file, byte[] bytes) {}

    @FunctionalInterface
    interface Parser {
        void parse(Path file) throws Exception;
    }

    final String name;
    final List<Seed> seeds;
    /**
     * Repairs a checksum the format carries over the part that was mutated, so the edit reaches the checks
     * behind it (half the inputs of a checksummed format get it); identity where there is none.
     */
    final java.util.function.UnaryOperator<byte[]> fixup;
    private final Parser parser;
    private final long[] seedAllocation;
    final AtomicLong inputs = new AtomicLong(), parsed = new AtomicLong(), refused = new AtomicLong();
    volatile long maxAllocated;

    FuzzTarget(String name, List<Seed> seeds, Parser parser) throws Exception {
        this(name, seeds, java.util.function.UnaryOperator.identity(), parser);
    }

    FuzzTarget(String name, List<Seed> seeds, java.util.function.UnaryOperator<byte[]> fixup, Parser parser) throws Exception {
        this.name = name;
        this.seeds = List.copyOf(seeds);
        this.fixup = fixup;
        this.parser = parser;
        this.seedAllocation = new long[seeds.size()];
        for (int i = 0; i < seeds.size(); i++) {
            Seed s = seeds.get(i);
            Outcome o = run(s.file(), s.bytes());
            if (o.error() != null) throw new AssertionError(name + ": the valid seed " + s.label() + " does not parse", o.error());
            seedAllocation[i] = o.allocated();
            Outcome fixed = run(s.file(), fixup.apply(s.bytes()));   // a fix-up must keep a valid file valid
            if (fixed.error() != null) throw new AssertionError(name + ": the checksum fix-up breaks the valid seed " + s.label(), fixed.error());
        }
    }

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("tern-fuzz").unstarted(r));
    }

    /** What one parse did: the error it threw (null when it accepted the file) and the bytes it allocated. */
    record Outcome(Throwable error, long allocated) {}

    /** Parses {@code file} on the calling thread, counting that thread's allocations. */
    static Outcome parseMeasured(Parser parser, Path file) {
        long id = Thread.currentThread().threadId();
        long before = THREADS.getThreadAllocatedBytes(id);
        Throwable error = null;
        try {
            parser.parse(file);
        } catch (Throwable t) {
            error = t;
        }
        return new Outcome(error, THREADS.getThreadAllocatedBytes(id) - before);
    }

    private Outcome run(Path file, byte[] bytes) throws Exception {
        Files.write(file, bytes);
        Future<Outcome> f = worker.submit(() -> parseMeasured(parser, file));
        try {
            return f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException hang) {
            f.cancel(true);
            worker.shutdownNow();
            worker = newWorker();
            throw new AssertionError(name + ": parsing did not finish within " + TIMEOUT_SECONDS + " s (a hang)");
        } catch (ExecutionException e) {
            throw new AssertionError(name + ": the harness failed", e.getCause());
        }
    }

    /** Parses the mutated bytes of seed {@code seedIndex}; throws an AssertionError describing a bug. */
    void fuzz(int seedIndex, byte[] input) throws Exception {
        Seed seed = seeds.get(seedIndex);
        inputs.incrementAndGet();
        Outcome o = run(seed.file(), input);
        maxAllocated = Math.max(maxAllocated, o.allocated());
        long limit = 4 * seedAllocation[seedIndex] + 256L * input.length + (1 << 20);
        if (o.allocated() > limit)
            throw new AssertionError(name + " (" + seed.label() + "): allocated " + o.allocated() + " bytes for a " + input.length
                    + "-byte input (limit " + limit + ")", o.error());
        if (o.error() == null) {
            parsed.incrementAndGet();
            return;
        }
        String bug = bug(o.error(), seed.file());
        if (bug != null) throw new AssertionError(name + " (" + seed.label() + "): " + bug, o.error());
        refused.incrementAndGet();
    }

    /** Null when {@code t} is a clear error about {@code file}; else what is wrong with it. */
    static String bug(Throwable t, Path file) {
        if (!CLEAR.contains(t.getClass()))
            return "threw " + t.getClass().getName() + " (" + t.getMessage() + "), not one of Tern's clear errors";
        // the file itself, or (for a manifest) the file of the same folder it describes
        if (t.getMessage() == null || !t.getMessage().contains(file.getParent().toString()))
            return "the message does not name the file: " + t.getMessage();
        for (Throwable c = t.getCause(); c != null; c = c.getCause()) {
            boolean fine = CLEAR.contains(c.getClass()) || c instanceof Json.JsonException || c instanceof CharacterCodingException
                    || (c instanceof java.io.IOException && !(c.getClass().getName().startsWith("tern.")));
            if (!fine) return "a clear error wraps " + c.getClass().getName() + " (" + c.getMessage() + "): a bug underneath";
        }
        return null;
    }

    String summary() {
        return String.format("%-16s %,9d inputs: %,9d parsed, %,9d refused with a clear error; max heap allocated per input %,d bytes",
                name, inputs.get(), parsed.get(), refused.get(), maxAllocated);
    }
}
