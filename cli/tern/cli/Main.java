package tern.cli;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code tern} command: dispatches a subcommand to its class. */
public final class Main {
    /** A subcommand: its one-line help and its entry point. */
    public record Command(String help, Runner runner) {}

    @FunctionalInterface
    public interface Runner {
        int run(String[] args) throws Exception;
    }

    static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("info", new Command("print the runtime's configuration (threads, SIMD path)", Info::run));
        COMMANDS.put("train", new Command("pretrain a FloatLM/TriLM/BiLM preset on token shards (--resume continues)", TrainCommand::run));
        COMMANDS.put("generate", new Command("continue a prompt with a checkpoint, streaming tokens", GenerateCommand::run));
        COMMANDS.put("demo", new Command("train a tiny TriLM on a generated corpus, save it, sample text (README)", DemoCommand::run));
        COMMANDS.put("tokenizer", new Command("train a byte-level BPE tokenizer (tokenizer train), or encode a text", TokenizerCommand::run));
        COMMANDS.put("prepare", new Command("encode text files into token shards for training", PrepareCommand::run));
        COMMANDS.put("eval", new Command("zero-shot tasks scored like lm-evaluation-harness, and sliding-window perplexity", EvalCommand::run));
        COMMANDS.put("sweep", new Command("train a grid of runs (precision, switch, size) one after another, resumable", SweepCommand::run));
        COMMANDS.put("quantize", new Command("post-training quantization of a FloatLM to a k-bit QuantLM (RTN or GPTQ)", QuantizeCommand::run));
        COMMANDS.put("fit", new Command("fit a scaling law (chinchilla, precision, ptq) to a sweep's runs; constants and a PNG plot", FitCommand::run));
        COMMANDS.put("export", new Command("write a checkpoint as a Hugging Face Llama folder with the weights its policy uses (γ·T for a TriLM)", ExportCommand::run));
        COMMANDS.put("pack", new Command("pack a TriLM checkpoint into one memory-mapped inference file (ternary at 16/9 bits per weight)", PackCommand::run));
        COMMANDS.put("serve", new Command("serve a packed model over HTTP: OpenAI-style /v1/completions, streaming, continuous batching", ServeCommand::run));
        COMMANDS.put("warmup", new Command("run the inference kernels on micro models (a training run for a JDK AOT cache)", WarmupCommand::run));
        COMMANDS.put("bench", new Command("measure: bench kernels [--json] (float vs ternary matmul, bandwidth, FMA peak); bench generate [--json] (packed decode)", BenchKernels::dispatch));
    }

    public static void main(String[] args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help")) {
            System.out.println("usage: tern COMMAND [ARGS]\n\ncommands:");
            COMMANDS.forEach((name, c) -> System.out.printf("  %-12s %s%n", name, c.help()));
            System.out.println("  test         run the whole test suite (launcher only)");
            return;
        }
        Command c = COMMANDS.get(args[0]);
        if (c == null) {
            System.err.println("tern: unknown command '" + args[0] + "' (tern help lists them)");
            System.exit(2);
        }
        try {
            System.exit(c.runner().run(Arrays.copyOfRange(args, 1, args.length)));
        } catch (UsageException e) {
            System.err.println("tern " + args[0] + ": " + e.getMessage());
            System.exit(2);
        } catch (Exception e) {
            System.err.println("tern " + args[0] + ": " + e.getMessage());
            if (Boolean.getBoolean("tern.trace")) e.printStackTrace();
            System.exit(1);
        }
    }
}
