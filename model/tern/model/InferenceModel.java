package tern.model;

import tern.checkpoint.CheckpointException;
import tern.checkpoint.Json;
import tern.checkpoint.PackedFile;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.HostStorage;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;
import tern.simd.CpuBackend;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * A packed model file ({@link PackedModelWriter}) opened as a served {@link LlamaModel}: a thin loader that
 * maps the file, checks every tensor against the config (names, shapes, dtypes, sizes, scales) and hands
 * them to the one model, whose block forward serves it like any other. On the CPU nothing is copied: the
 * t9 codes, the f32/f16 embedding and LM head and the norms are read in place from the mapping; another
 * backend gets them uploaded (CUDA repacks the codes into its own layout, {@link Backend#loadTernary}).
 * Not thread-safe: one generation at a time (or one {@link BatchGenerator} scheduler thread).
 */
public final class InferenceModel implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final String[] LINEARS = LlamaModel.LINEARS;

    private final PackedFile file;
    private final LlamaConfig config;
    private final Backend backend;
    private final LlamaModel model;
    private final String tokenizerJson;
    private final long bytesPerToken;
    private Generator generator;

    private InferenceModel(PackedFile file, Backend backend) {
        this.file = file;
        this.backend = backend;
        Path path = file.file();
        try {
            config = HfConfig.read(Json.write(file.config()), path + " (config)");
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(path, e.getMessage());
        }
        if (!(config.precision().weights() instanceof LinearPolicy.Ternary(int shards)))
            throw new CheckpointException(path, "config precision is " + config.precision().weights().label() + ", a packed model is ternary");
        if (config.precision().activationBits() != 0 || config.precision().kvBits() != 0 || config.precision().phaseIn() != 1f)
            throw new CheckpointException(path, "config asks for activation/KV fake quantization or a phase-in, which a packed model does not have");
        Set<String> expected = new HashSet<>();
        long[] traffic = {0};
        LlamaModel.WeightSource source = new LlamaModel.WeightSource() {
            @Override public Tensor floats(String name, int... shape) {
                boolean matrix = shape.length == 2;
                return matrix ? floatMatrix(name, shape[0], shape[1], expected, traffic) : norm(name, shape[0], expected);
            }

            @Override public TernaryWeights ternary(String name, int rows, int cols, ShardAxis axis) {
                TernaryWeights w = InferenceModel.this.ternary(name, rows, cols, shards, axis, expected);
                traffic[0] += file.entry(name).bytes();
                return w;
            }
        };
        String tok = null;
        if (file.entries().containsKey(PackedModelWriter.TOKENIZER)) {
            expected.add(PackedModelWriter.TOKENIZER);
            tok = tern.checkpoint.PackedFileWriter.text(file.bytes(PackedModelWriter.TOKENIZER));
        }
        tokenizerJson = tok;
        // The file outlives the model's tensors (they may be views of its mapping): the model closes it last.
        model = LlamaModel.served(backend, config, source, file);
        try {
            for (String name : file.entries().keySet())
                if (!expected.contains(name)) throw new CheckpointException(path, "tensor '" + name + "' is not part of a " + config.layers() + "-layer Llama");
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        // The embedding row read per token is in the traffic as a whole matrix: count one row instead.
        long embeddingBytes = file.entry("model.embed_tokens.weight").bytes();
        bytesPerToken = traffic[0] - embeddingBytes + embeddingBytes / config.vocabSize();
    }

    /** Maps, validates (sizes, offsets, checksums, shapes against the config) and opens a packed model on the CPU. */
    public static InferenceModel load(Path path) {
        return load(path, new CpuBackend());
    }

    /** As {@link #load(Path)}, served on {@code backend} (e.g. CUDA: the weights are uploaded at load). */
    public static InferenceModel load(Path path, Backend backend) {
        return load(path, backend, activations(backend));
    }

    /**
     * As {@link #load(Path, Backend)} with {@code activations} chosen before the weights load, so that the
     * kernels' own copy of the codes for int8 activations (the AVX2 2-bit repack) is built at load rather
     * than inside the first token's products.
     */
    public static InferenceModel load(Path path, Backend backend, PackedMatmul.Activations activations) {
        setActivations(backend, activations);
        PackedFile f = PackedFile.open(path);
        try {
            return new InferenceModel(f, backend);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private PackedFile.Entry entry(String name, String what, Set<String> expected, long... shape) {
        PackedFile.Entry e = file.entry(name);
        expected.add(name);
        if (!java.util.Arrays.equals(e.shape(), shape))
            throw new CheckpointException(file.file(), "tensor '" + name + "' has shape " + java.util.Arrays.toString(e.shape())
                    + ", the config needs " + java.util.Arrays.toString(shape) + " (" + what + ")");
        return e;
    }

    /** The embedding or LM head: in place on the CPU (f32 or f16), uploaded as f32 elsewhere. */
    private Tensor floatMatrix(String name, int rows, int cols, Set<String> expected, long[] traffic) {
        PackedFloatMatvec.Format f = floatFormat(name, rows, cols, expected);
        MemorySegment bytes = file.bytes(name);
        traffic[0] += bytes.byteSize();
        if (backend.device() == Device.CPU)
            return Tensor.wrap(HostStorage.borrow(bytes), 0, f == PackedFloatMatvec.Format.F16 ? DType.F16 : DType.F32, false, rows, cols);
        float[] v = new float[Math.multiplyExact(rows, cols)];
        for (int r = 0; r < rows; r++) PackedFloatMatvec.row(bytes, f, cols, r, v, r * cols);
        return backend.upload(v, rows, cols);
    }

    private PackedFloatMatvec.Format floatFormat(String name, int rows, int cols, Set<String> expected) {
        PackedFile.Entry e = entry(name, "vocabulary × hidden", expected, rows, cols);
        PackedFloatMatvec.Format f = switch (e.dtype()) {
            case PackedModelWriter.F32 -> PackedFloatMatvec.Format.F32;
            case PackedModelWriter.F16 -> PackedFloatMatvec.Format.F16;
            default -> throw new CheckpointException(file.file(), "tensor '" + name + "' has dtype " + e.dtype() + ", expected f32 or f16");
        };
        checkBytes(e, (long) rows * cols * f.bytes);
        return f;
    }

    private Tensor norm(String name, int n, Set<String> expected) {
        PackedFile.Entry e = entry(name, "hidden", expected, n);
        if (!e.dtype().equals(PackedModelWriter.F32))
            throw new CheckpointException(file.file(), "tensor '" + name + "' has dtype " + e.dtype() + ", norms are f32");
        checkBytes(e, 4L * n);
        MemorySegment src = file.bytes(name);
        if (backend.device() == Device.CPU) return Tensor.wrap(HostStorage.borrow(src), 0, DType.F32, false, n);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = src.get(F32, 4L * i);
        return backend.upload(v, n);
    }

    private TernaryWeights ternary(String name, int rows, int cols, int shards, ShardAxis axis, Set<String> expected) {
        PackedFile.Entry e = entry(name, "out × in", expected, rows, cols);
        if (!e.dtype().equals(PackedModelWriter.TERNARY))
            throw new CheckpointException(file.file(), "tensor '" + name + "' has dtype " + e.dtype() + ", block linears are "
                    + PackedModelWriter.TERNARY + " (packed ternary)");
        if (!(e.attributes().get("scales") instanceof List<?> list) || list.size() != shards)
            throw new CheckpointException(file.file(), "tensor '" + name + "' needs " + shards + " scale(s) (one per model-parallel shard), has "
                    + e.attributes().get("scales"));
        String axisName = axis == ShardAxis.ROWS ? "rows" : "cols";
        if (!axisName.equals(e.attributes().get("shard_axis")))
            throw new CheckpointException(file.file(), "tensor '" + name + "' is sharded along " + e.attributes().get("shard_axis") + ", expected " + axisName);
        float[] scales = new float[shards];
        for (int s = 0; s < shards; s++) {
            if (!(list.get(s) instanceof Number v) || !Double.isFinite(v.doubleValue()) || v.doubleValue() <= 0)
                throw new CheckpointException(file.file(), "tensor '" + name + "' scale " + s + " = " + list.get(s) + " is not a positive number");
            scales[s] = v.floatValue();
        }
        checkBytes(e, PackedTernary.bytes(rows, cols, shards, axis));
        MemorySegment codes = file.bytes(name);
        Tensor t9 = Tensor.wrap(HostStorage.borrow(codes), 0, DType.T9, false, (int) (codes.byteSize() / 2));
        return backend.loadTernary(t9, rows, cols, scales, axis);
    }

    private void checkBytes(PackedFile.Entry e, long need) {
        if (e.bytes() != need)
            throw new CheckpointException(file.file(), "tensor '" + e.name() + "' holds " + e.bytes() + " bytes, its shape and dtype need " + need);
    }

    // ---- accessors -----------------------------------------------------------------------------------------

    public LlamaConfig config() { return config; }

    public Path file() { return file.file(); }

    /** The one model serving this file (its block forward, {@link BatchGenerator}, {@link Generator}). */
    public LlamaModel model() { return model; }

    public Backend backend() { return backend; }

    /** The tokenizer's JSON stored in the file, or null when it was packed without one. */
    public String tokenizerJson() { return tokenizerJson; }

    /**
     * Float activations (the model as trained, the default) or int8 absmax activations (BitNet-style) in the
     * packed products. The CPU kernels have both; another backend keeps float activations.
     */
    public void setActivations(PackedMatmul.Activations a) { setActivations(backend, a); }

    private static void setActivations(Backend backend, PackedMatmul.Activations a) {
        requireActivations(backend, a);
        if (backend instanceof CpuBackend cpu) cpu.setPackedActivations(a);
    }

    /** Throws IllegalArgumentException unless {@code backend}'s packed products take {@code a} activations. */
    public static void requireActivations(Backend backend, PackedMatmul.Activations a) {
        if (!(backend instanceof CpuBackend) && a != PackedMatmul.Activations.FLOAT)
            throw new IllegalArgumentException("int8 activations are a CPU kernel option; " + backend.name() + " multiplies float activations");
    }

    public PackedMatmul.Activations activations() { return activations(backend); }

    private static PackedMatmul.Activations activations(Backend backend) {
        return backend instanceof CpuBackend cpu ? cpu.packedActivations() : PackedMatmul.Activations.FLOAT;
    }

    /** True when the embedding and LM head are stored as f16 (what the kernel warm-up should match). */
    public boolean halfFloats() { return file.entry("lm_head.weight").dtype().equals(PackedModelWriter.F16); }

    /** Bytes read per decoded token: every packed code, the LM head, one embedding row (norms aside). */
    public long bytesPerToken() { return bytesPerToken; }

    // ---- generation ----------------------------------------------------------------------------------------

    /**
     * Greedy or sampled continuation of {@code prompt} with a KV cache sized to the request (the prompt runs
     * once, then one position per token); each token goes to {@code onToken} as soon as it is chosen. Stops
     * after {@link SamplingOptions#stopToken()}.
     */
    public int[] generate(int[] prompt, int maxNew, SamplingOptions options, IntConsumer onToken) {
        boolean first = generator == null;
        if (first) generator = new Generator(model);
        // The first generation of a fresh process: a short prompt runs as one-token steps, so the JIT
        // compiles one set of kernels (the decode's) instead of the prefill's and then the decode's; on two
        // cores that took ~1.5 s off a 64-token `tern generate` (BENCHMARKS.md). Only with int8 products on
        // the CPU, whose integer sums make the logits bit for bit those of the batched prefill
        // (PackedModelTest); later calls, and longer prompts, take the batched prefill.
        boolean oneByOne = first && prompt.length <= COLD_ONE_BY_ONE && activations() == PackedMatmul.Activations.INT8
                && backend.device() == Device.CPU;
        return generator.generate(prompt, maxNew, options, onToken, oneByOne);
    }

    /** The longest prompt that the first generation runs one token at a time (see {@link #generate}). */
    static final int COLD_ONE_BY_ONE = 32;

    /** A continuous-batching generator over this model (the caller closes it). */
    public BatchGenerator batch() { return new BatchGenerator(model); }

    @Override
    public void close() {
        if (generator != null) generator.close();
        model.close();
    }
}
