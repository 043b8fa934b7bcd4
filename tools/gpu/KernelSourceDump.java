package tern.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes every kernel translation unit exactly as {@link Kernels#source} hands it to NVRTC (includes
 * inlined), one {@code NAME.cu} per module into the directory given, plus {@code modules.txt}: one line per
 * module, "NAME ampere" for those loaded only on sm_80 and later. Compiled by tools/gpu/kernel-identity.sh
 * against the tree of each commit it compares, so both sides are assembled by their own Kernels.java.
 */
final class KernelSourceDump {
    public static void main(String[] args) throws IOException {
        if (args.length != 1) throw new IllegalArgumentException("usage: KernelSourceDump OUTPUT-DIRECTORY");
        Path dir = Files.createDirectories(Path.of(args[0]));
        List<String> lines = new ArrayList<>();
        for (String s : Kernels.SOURCES) lines.add(write(dir, s, ""));
        for (String s : Kernels.AMPERE_SOURCES) lines.add(write(dir, s, " ampere"));
        Files.write(dir.resolve("modules.txt"), lines, StandardCharsets.UTF_8);
    }

    private static String write(Path dir, String module, String tag) throws IOException {
        Files.writeString(dir.resolve(module + ".cu"), Kernels.source(module), StandardCharsets.UTF_8);
        return module + tag;
    }
}
