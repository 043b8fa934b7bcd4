package tern.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AfterProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tern.runtime.AdamW;
import tern.runtime.Parameter;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

/** Training state and optimizer moments survive a checkpoint exactly, and bad files are refused by name. */
class TrainingStateTest {
    private final Path dir;
    private final CpuBackend backend = CpuBackend.scalar();

    TrainingStateTest() throws IOException { dir = Files.createTempDirectory("tern-state"); }

    @AfterProperty
    @AfterEach
    void cleanUp() throws IOException { AtomicFiles.deleteRecursively(dir); }

    @Property(tries = 200)
    void stateRoundTripsExactly(@ForAll long step, @ForAll long tokens, @ForAll long rngState, @ForAll double seconds) {
        TrainingState s = new TrainingState(Math.abs(step % Long.MAX_VALUE), Math.abs(tokens % Long.MAX_VALUE), 3,
                Math.abs(seconds) < Double.MAX_VALUE ? Math.abs(seconds) : 1.5,
                Map.of("sampler", rngState, "dropout", List.of(rngState, -1L, Long.MIN_VALUE)),
                Map.of("shard", 7L, "offset", Long.MAX_VALUE, "order", List.of("b", "a"), "done", false),
                Map.of("lr", 2.4e-3, "preset", "trilm-99m", "nested", Map.of("x", 0.1)));
        TrainingState back = TrainingState.parse(s.toJson(), Path.of("training_state.json"));
        assertEquals(s, back);
    }

    @Test
    void readsFromACheckpointDirectory() {
        TrainingState s = new TrainingState(10, 20480, 10, 12.5, Map.of("seed", 42L), Map.of("pos", 3L), Map.of("steps", 100L));
        Path ckpt = new CheckpointWriter(dir).write("step-10", Map.of(TrainingState.FILE, s.content()));
        assertEquals(s, TrainingState.read(ckpt));
    }

    @Test
    void malformedStatesNameTheField() throws IOException {
        Path file = dir.resolve(TrainingState.FILE);
        String good = new TrainingState(1, 2, 1, 0, Map.of(), Map.of(), Map.of()).toJson();
        expectRefused(file, good.replace("\"step\": 1", "\"step\": -1"), "field step must be a non-negative integer");
        expectRefused(file, good.replace("\"tokens_seen\": 2", "\"tokens_seen\": 2.5"), "field tokens_seen");
        expectRefused(file, good.replace("\"rng\": {}", "\"rng\": []"), "field rng must be an object");
        expectRefused(file, good.replace("tern-training-state/1", "other/2"), "format is other/2");
        expectRefused(file, good.substring(0, good.length() - 3), "not valid JSON");
        assertTrue(assertThrows(CheckpointException.class, () -> TrainingState.read(dir.resolve("nowhere.json"))).getMessage().contains("missing"));
        assertThrows(IllegalArgumentException.class, () -> new TrainingState(0, 0, 0, 0, Map.of("x", new Object()), Map.of(), Map.of()),
                "a state JSON cannot hold is refused when made, not when saved");
    }

    private static void expectRefused(Path file, String json, String expected) throws IOException {
        Files.writeString(file, json);
        CheckpointException e = assertThrows(CheckpointException.class, () -> TrainingState.read(file));
        assertEquals(file, e.file());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    // ---- optimizer moments ---------------------------------------------------------------------------------

    @Property(tries = 20)
    void momentsAndStepRoundTripBitExact(@ForAll long seed) {
        Random rnd = new Random(seed);
        try (Model a = new Model(backend, rnd); Model b = new Model(backend, new Random(seed))) {
            for (Parameter p : a.opt.parameters()) {
                fill(a.opt.firstMoment(p), rnd);
                fill(a.opt.secondMoment(p), rnd);
            }
            a.opt.setStep(1 + rnd.nextInt(100_000));
            Path ckpt = new CheckpointWriter(dir).write("c" + (seed & 0xffff) + "-" + rnd.nextInt(1 << 20),
                    Map.of(OptimizerState.FILE, OptimizerState.content(a.opt, backend)));
            OptimizerState.load(ckpt.resolve(OptimizerState.FILE), b.opt, backend);
            assertEquals(a.opt.step(), b.opt.step());
            for (int i = 0; i < a.params.size(); i++) {
                Parameter pa = a.params.get(i), pb = b.params.get(i);
                assertArrayEquals(a.opt.firstMoment(pa).toFloatArray(), b.opt.firstMoment(pb).toFloatArray(), pa.name);
                assertArrayEquals(a.opt.secondMoment(pa).toFloatArray(), b.opt.secondMoment(pb).toFloatArray(), pa.name);
            }
        }
    }

    /**
     * Resume is exact: weights, moments and step saved after some updates, restored into a fresh model and
     * optimizer, and both continue with the same gradients: every weight is bit-identical afterwards.
     */
    @Property(tries = 10)
    void resumingContinuesBitForBit(@ForAll long seed) {
        Random rnd = new Random(seed);
        try (Model a = new Model(backend, rnd); Model b = new Model(backend, new Random(seed))) {
            for (Parameter p : a.params) fill(p.value, rnd);
            int before = 1 + rnd.nextInt(4), after = 1 + rnd.nextInt(4);
            long gradSeed = rnd.nextLong();
            Random grads = new Random(gradSeed);
            for (int s = 0; s < before; s++) update(a, grads, s);
            Map<String, Tensor> weights = new LinkedHashMap<>();
            for (Parameter p : a.params) weights.put(p.name, p.value);
            Path ckpt = new CheckpointWriter(dir).write("step-" + before + "-" + (seed & 0xffff) + "-" + rnd.nextInt(1 << 20), Map.of(
                    "model.safetensors", Safetensors.content(weights, Map.of(), tern.runtime.DType.F32),
                    OptimizerState.FILE, OptimizerState.content(a.opt, backend)));
            try (SafetensorsFile f = Safetensors.open(ckpt.resolve("model.safetensors"))) {
                for (Parameter p : b.params)
                    try (Tensor t = f.tensor(p.name, p.value.shape())) {
                        backend.copy(t, p.value);
                    }
            }
            OptimizerState.load(ckpt.resolve(OptimizerState.FILE), b.opt, backend);
            Random gradsA = new Random(gradSeed + 1), gradsB = new Random(gradSeed + 1);
            for (int s = before; s < before + after; s++) {
                update(a, gradsA, s);
                update(b, gradsB, s);
            }
            for (int i = 0; i < a.params.size(); i++)
                assertArrayEquals(SafetensorsRoundTripTest.bits(a.params.get(i).value), SafetensorsRoundTripTest.bits(b.params.get(i).value),
                        a.params.get(i).name + " after resuming at step " + before);
        }
    }

    private static void update(Model m, Random grads, int step) {
        for (Parameter p : m.params) fill(p.grad, grads);
        m.opt.update(1e-2f / (1 + step), 0.1f, AdamW.clipScale(m.opt.gradNorm(), 1.0));
    }

    @Test
    void loaderChecksEveryMomentAgainstItsParameter() throws IOException {
        Random rnd = new Random(1);
        try (Model m = new Model(backend, rnd)) {
            Path file = dir.resolve(OptimizerState.FILE);
            Map<String, Tensor> t = new LinkedHashMap<>();
            for (Parameter p : m.params) {
                t.put(OptimizerState.firstMomentName(p.name), Tensor.zeros(tern.runtime.DType.F32, p.value.shape()));
                t.put(OptimizerState.secondMomentName(p.name), Tensor.zeros(tern.runtime.DType.F32, p.value.shape()));
            }
            m.opt.setStep(5);
            // Missing step in the metadata.
            Safetensors.write(file, t, Map.of());
            expectLoadError(file, m, "metadata step = null");
            // A moment with the wrong shape; the optimizer must be untouched afterwards.
            Map<String, Tensor> wrong = new LinkedHashMap<>(t);
            wrong.put(OptimizerState.secondMomentName("norm.weight"), Tensor.zeros(tern.runtime.DType.F32, 5));
            Safetensors.write(file, wrong, Map.of("step", "9"));
            expectLoadError(file, m, "tensor 'exp_avg_sq.norm.weight': shape [5] does not match parameter norm.weight [4]");
            assertEquals(5, m.opt.step(), "a refused file changes nothing");
            // A moment missing, and one for a parameter the model does not have.
            Map<String, Tensor> missing = new LinkedHashMap<>(t);
            missing.remove(OptimizerState.firstMomentName("proj.weight"));
            Safetensors.write(file, missing, Map.of("step", "9"));
            expectLoadError(file, m, "tensor 'exp_avg.proj.weight' is missing (parameter proj.weight)");
            Map<String, Tensor> extra = new LinkedHashMap<>(t);
            extra.put("exp_avg.ghost", Tensor.zeros(tern.runtime.DType.F32, 1));
            Safetensors.write(file, extra, Map.of("step", "9"));
            expectLoadError(file, m, "tensor 'exp_avg.ghost' matches no parameter");
            t.values().forEach(Tensor::close);
        }
    }

    private void expectLoadError(Path file, Model m, String expected) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> OptimizerState.load(file, m.opt, backend));
        assertEquals(file, e.file());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static void fill(Tensor t, Random rnd) {
        for (long i = 0; i < t.size(); i++) t.set(i, (float) rnd.nextGaussian());
    }

    /** Three parameters of odd shapes and an AdamW over them. */
    private static final class Model implements AutoCloseable {
        final List<Parameter> params = new ArrayList<>();
        final AdamW opt;

        Model(CpuBackend backend, Random rnd) {
            params.add(Parameter.create(backend, "proj.weight", true, 3 + rnd.nextInt(5), 7));
            params.add(Parameter.create(backend, "norm.weight", false, 4));
            params.add(Parameter.create(backend, "embed.weight", true, 1 + rnd.nextInt(9), 2));
            opt = new AdamW(backend, params, 0.9f, 0.95f, 1e-8f);
        }

        @Override
        public void close() {
            opt.close();
            params.forEach(Parameter::close);
        }
    }
}
