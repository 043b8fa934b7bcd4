package tern.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tern.testing.TinyCheckpoints;

/**
 * What the model commands say about damaged inputs (issue #14): NaN weights with valid checksums are refused
 * at load by eval, export, pack and generate alike, naming the tensor (item 6); a perplexity text that is not
 * UTF-8 is named with the byte where it breaks (item 5).
 */
class DamagedInputCliTest {
    private static final String BAD = "model.layers.0.self_attn.v_proj.weight";
    @TempDir Path dir;

    @Test
    void nanWeightsAreRefusedByEveryModelCommandNamingTheTensor() throws Exception {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"), TinyCheckpoints.SHAPE, TinyCheckpoints.poke(BAD, 3, Float.NaN), c -> c);
        Path text = Files.writeString(dir.resolve("text.txt"), TinyCheckpoints.SAMPLE.repeat(4));
        String c = ckpt.toString();
        List<String[]> commands = List.of(
                new String[]{"eval", "--ckpt", c, "--perplexity", text.toString()},
                new String[]{"export", "--ckpt", c, "--out", dir.resolve("hf").toString()},
                new String[]{"pack", "--ckpt", c, "--out", dir.resolve("m.tern").toString()},
                new String[]{"generate", "--ckpt", c, "--prompt", "the cat", "--max-tokens", "3"});
        for (String[] cmd : commands) {
            Exception e = assertThrows(Exception.class, () -> Main.COMMANDS.get(cmd[0]).runner().run(java.util.Arrays.copyOfRange(cmd, 1, cmd.length)),
                    "tern " + cmd[0] + " with a NaN weight");
            assertTrue(e.getMessage().contains("tensor '" + BAD + "'") && e.getMessage().contains("NaN"), cmd[0] + ": " + e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("hf/model.safetensors")));
        assertFalse(Files.exists(dir.resolve("m.tern")));
    }

    @Test
    void perplexityOfANonUtf8FileNamesTheFileAndTheByte() throws Exception {
        Path ckpt = TinyCheckpoints.checkpoint(dir.resolve("run"));
        byte[] ok = "the cat sat. ".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] bytes = new byte[ok.length + 3];
        System.arraycopy(ok, 0, bytes, 0, ok.length);
        bytes[ok.length] = (byte) 0xC3;                 // a two-byte lead followed by ASCII: malformed
        bytes[ok.length + 1] = 'x';
        bytes[ok.length + 2] = '.';
        Path text = Files.write(dir.resolve("latin1.txt"), bytes);
        Exception e = assertThrows(Exception.class,
                () -> EvalCommand.run(new String[]{"--ckpt", ckpt.toString(), "--perplexity", text.toString()}));
        assertTrue(e.getMessage().contains(text.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("byte " + ok.length), e.getMessage());
        assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());
    }

    @Test
    void evalOfAPackedFileSaysWhatEvalReads() throws Exception {
        // the packed format's magic and a few bytes: eval must recognize the format before reading further
        Path packed = Files.write(dir.resolve("m.tern"), "TERNPACK\u0001\u0000\u0000\u0000".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        Path text = Files.writeString(dir.resolve("text.txt"), TinyCheckpoints.SAMPLE);
        UsageException e = assertThrows(UsageException.class,
                () -> EvalCommand.run(new String[]{"--model", packed.toString(), "--perplexity", text.toString()}));
        assertTrue(e.getMessage().contains(packed.toString()) && e.getMessage().contains("packed Tern file")
                && e.getMessage().contains("--format gguf"), e.getMessage());
    }
}
