package tern.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import tern.checkpoint.CheckpointManifest;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.Safetensors;
import tern.checkpoint.SafetensorsFile;
import tern.checkpoint.TrainingState;

/**
 * What must hold of a run's checkpoints folder at any instant, however the process writing it died: every
 * folder with a complete checkpoint's name has a manifest whose sizes and CRC32s match, its safetensors files
 * open with their per-tensor checksums, and its training state parses; the {@code latest} marker, when
 * present, names such a folder (or its {@code .old} copy during a replace). Partial work may exist only
 * under the {@code .tmp} / {@code .old} names that recovery removes.
 */
final class CheckpointInvariants {
    private static final Pattern COMPLETE_NAME = Pattern.compile("step-\\d{6}");

    private CheckpointInvariants() {}

    /** Checks the folder; returns the complete checkpoints found, or throws an AssertionError naming the first violation. */
    static List<Path> check(Path checkpoints) throws IOException {
        List<Path> complete = new ArrayList<>();
        if (!Files.isDirectory(checkpoints)) return complete;
        List<Path> entries;
        try (Stream<Path> s = Files.list(checkpoints)) {
            entries = s.sorted().toList();
        }
        for (Path p : entries) {
            String name = p.getFileName().toString();
            if (name.equals(CheckpointWriter.LATEST) || name.endsWith(".tmp") || name.endsWith(".old")) continue;
            if (!COMPLETE_NAME.matcher(name).matches()) throw new AssertionError("unexpected entry in " + checkpoints + ": " + name);
            verifyLoadable(p);
            complete.add(p);
        }
        Path marker = checkpoints.resolve(CheckpointWriter.LATEST);
        if (Files.exists(marker)) {
            String named = Files.readString(marker).strip();
            Path target = checkpoints.resolve(named);
            if (!Files.isDirectory(target)) target = checkpoints.resolve(named + ".old");
            if (!Files.isDirectory(target)) throw new AssertionError("latest names " + named + ", which does not exist");
            verifyLoadable(target);
        }
        Optional<Path> latest = new CheckpointWriter(checkpoints).latest();
        if (latest.isPresent()) verifyLoadable(latest.get());
        return complete;
    }

    /** The manifest verifies, every safetensors file opens with its tensor checksums, the state parses. */
    static void verifyLoadable(Path ckpt) {
        try {
            CheckpointManifest m = CheckpointWriter.verify(ckpt);
            for (String f : m.files().keySet())
                if (f.endsWith(".safetensors"))
                    try (SafetensorsFile sf = Safetensors.open(ckpt.resolve(f))) {
                        if (sf.names().isEmpty()) throw new AssertionError(ckpt.resolve(f) + " holds no tensors");
                    }
            TrainingState.read(ckpt.resolve(TrainingState.FILE));
        } catch (RuntimeException e) {
            throw new AssertionError("checkpoint " + ckpt + " is not loadable: " + e.getMessage(), e);
        }
    }
}
