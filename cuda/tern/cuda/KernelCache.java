package tern.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Compiled kernels on disk, keyed by the SHA-256 of the source and the NVRTC version, plus the target
 * architecture: a changed kernel or compiler misses the cache, a second run on the same GPU skips NVRTC.
 * The directory is {@code -Dtern.cuda.cache}, else {@code ~/.cache/tern/cuda}. A cache that cannot be
 * written (read-only home) only costs the compile time.
 */
final class KernelCache {
    private final Path dir;
    private final Nvrtc nvrtc;
    private final String nvrtcVersion;

    KernelCache(Nvrtc nvrtc) {
        this.nvrtc = nvrtc;
        this.nvrtcVersion = nvrtc.version();
        String configured = System.getProperty("tern.cuda.cache");
        this.dir = configured != null ? Path.of(configured)
                : Path.of(System.getProperty("user.home"), ".cache", "tern", "cuda");
    }

    /** The CUBIN of {@code source} for sm_{arch}, from the cache or freshly compiled (and then stored). */
    byte[] cubin(String source, String name, int arch) {
        Path file = dir.resolve(name.replaceAll("[^A-Za-z0-9_.-]", "_") + "-" + key(source) + "-sm" + arch + ".cubin");
        try {
            if (Files.isRegularFile(file)) return Files.readAllBytes(file);
        } catch (IOException unreadable) {
            // compile afresh below
        }
        byte[] cubin = nvrtc.compile(source, name, arch);
        store(file, cubin);
        return cubin;
    }

    private String key(String source) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(source.getBytes(StandardCharsets.UTF_8));
            sha.update(("\0nvrtc " + nvrtcVersion).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(sha.digest(), 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void store(Path file, byte[] cubin) {
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
            Files.write(tmp, cubin);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | UncheckedIOException notWritable) {
            // a cache we cannot write is only slower
        }
    }
}
