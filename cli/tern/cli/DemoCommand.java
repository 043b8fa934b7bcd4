package tern.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import tern.train.Demo;
import tern.train.TrainConfig;
import tern.train.TrainerStop;

/** {@code tern demo}: the whole pipeline on a corpus Tern generates itself (see {@link Demo}). */
final class DemoCommand {
    private DemoCommand() {}

    static final String USAGE = """
            usage: tern demo [--steps N] [--out DIR] [--precision float|ternary|binary] [--prompt TEXT]
              generates a grammar corpus, trains a BPE tokenizer and a tiny model on it (a few minutes on 2 cores),
              saves a checkpoint, compares the model's size in bits with a FloatLM of the same shape, and samples text.
              --steps N        training steps                                   [%d]
              --out DIR        where the data and the run go (data is reused)   [runs/demo]
              --precision P    ternary (TriLM), float (FloatLM) or binary       [ternary]
              --prompt TEXT    the text the trained model continues             [The little dog]
            %s""".formatted(Demo.DEFAULT_STEPS, Devices.FLAGS.strip());

    static int run(String[] argv) throws IOException {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("demo", argv, Set.of("steps", "out", "precision", "prompt", "device", "compute"), Set.of());
        Demo.Options o = Demo.Options.defaults();
        long steps = args.longValue("steps", o.steps());
        if (steps < 1) throw new UsageException("--steps must be at least 1, got " + steps);
        String precision = args.string("precision", o.precision());
        if (!TrainConfig.PRECISIONS.contains(precision))
            throw new UsageException("--precision must be one of " + TrainConfig.PRECISIONS + ", got '" + precision + "'");
        o = o.withSteps(steps).withOut(Path.of(args.string("out", o.out().toString()))).withPrecision(precision);
        if (args.has("prompt")) o = o.withPrompt(args.required("prompt"));
        TrainerStop stop = new TrainerStop().onShutdown();
        try (tern.runtime.Backend backend = Devices.open(args)) {
            Demo.run(o, backend, System.out, stop);
        } finally {
            stop.finished();
        }
        System.out.println("continue the prompt yourself: ./tern generate --ckpt " + o.out().resolve("run") + " --prompt \"The old horse\"");
        return 0;
    }
}
