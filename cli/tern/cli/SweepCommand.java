package tern.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import tern.checkpoint.Json;
import tern.train.Sweep;
import tern.train.SweepGrid;
import tern.train.TrainerStop;

/** {@code tern sweep --grid FILE}: train a grid of runs one after another (resumable), for the scaling-law fits. */
final class SweepCommand {
    private SweepCommand() {}

    static final String USAGE = """
            usage: tern sweep --grid FILE [--data DIR] [--out DIR] [--device cpu|cuda] [--compute bf16|f32]
              --grid FILE   JSON: {"data": DIR, "out": DIR, "defaults": {…}, "runs": [{"name": …, …}, …]} or a list of runs;
                            a run's settings: train settings (preset, steps, batch, seq, lr, schedule, …), precision
                            settings (precision, weight_bits, switch_to, switch_at, reset_optimizer, phase_in, act_bits,
                            kv_bits) and the shape: hidden, intermediate, layers, heads (or "shape": {…})
              --data DIR    token shards (overrides the grid's)
              --out DIR     folder of the runs (overrides the grid's); each run in OUT/NAME with result.json
%s
            Every run computes on the one device. A finished run (result.json present) is skipped; an unfinished
            one resumes from its latest checkpoint (on either device).""".formatted(Devices.FLAGS);

    static int run(String[] argv) throws Exception {
        if (List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("sweep", argv, Set.of("grid", "data", "out", "device", "compute"), Set.of());
        Path file = Path.of(args.required("grid"));
        if (!Files.isRegularFile(file)) throw new UsageException("--grid " + file + ": no such file");
        SweepGrid grid;
        try {
            grid = SweepGrid.parse(Json.parse(Files.readString(file)), file.toString());
        } catch (Json.JsonException | IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        grid = new SweepGrid(args.string("data", grid.data()), args.string("out", grid.out()), grid.runs());
        TrainerStop stop = new TrainerStop().onShutdown();
        try (tern.runtime.Backend backend = Devices.open(args)) {
            System.out.println("backend " + backend.name() + ", compute " + backend.compute());
            List<?> results = Sweep.run(grid, backend, System.out, stop);
            System.out.println(results.size() + " of " + grid.runs().size() + " runs finished in " + grid.out());
            return results.size() == grid.runs().size() ? 0 : 1;
        } finally {
            stop.finished();
        }
    }
}
