package tern.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import tern.model.BpeTrainer;
import tern.model.Tokenizer;
import tern.model.TokenizerFiles;
import tern.train.GrammarCorpus;
import tern.train.Prepare;

/** Inputs the reliability tests share: a small shard folder, and how to start {@code tern} in a child JVM. */
final class ReliabilityData {
    private ReliabilityData() {}

    /** About 60 kB of the grammar corpus as token shards with a 320-token vocabulary and tokenizer.json. */
    static Path grammarShards(Path dir) throws IOException {
        String text = GrammarCorpus.generate(5, 60_000);
        Tokenizer tokenizer = BpeTrainer.train(text, 320);
        Files.createDirectories(dir);
        TokenizerFiles.save(tokenizer, dir.resolve("tokenizer.json"));
        Prepare.fromText(text, tokenizer, dir, 0.05);
        return dir;
    }

    /**
     * The command line of {@code tern.cli.Main} in a fresh JVM on this test's class path. The scalar element
     * kernels are forced because these child JVMs live for a few steps each and the scalar path needs no
     * JIT warm-up; the Vector API kernels resume bit for bit as well (JitDeterminismTest, ResumeTest).
     */
    static List<String> tern(String... args) {
        return tern(List.of(), args);
    }

    /** {@link #tern(String...)} with extra JVM options (system properties for fault injection). */
    /**
     * The class path of the child processes: this JVM's, unless {@code -Dtern.classpath} names one (the GPU
     * machine's JUnit console launcher runs the tests from its own class loader, so there the JVM's class
     * path holds only the launcher).
     */
    static String childClassPath() {
        return System.getProperty("tern.classpath", System.getProperty("java.class.path"));
    }

    static List<String> tern(List<String> jvmOptions, String... args) {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Dtern.simd=scalar", "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", childClassPath()));
        cmd.addAll(jvmOptions);
        cmd.add("tern.cli.Main");
        cmd.addAll(List.of(args));
        return cmd;
    }
}
