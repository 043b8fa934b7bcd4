package tern.model;

import tern.checkpoint.Json;
import tern.checkpoint.PackedFileWriter;
import tern.runtime.Parameter;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedTernary;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TriLM ({@link LlamaModel} with ternary block linears) → one packed inference file: every block linear
 * quantized exactly as training's forward pass quantizes it (per-shard γ = ε + mean|W|,
 * T = clamp(rint(W/γ), −1, 1)) and packed at 16/9 bits per weight ({@link PackedTernary}, dtype "t9") with
 * its scales; embedding and LM head as f32 or f16; norms f32; the config and the tokenizer's JSON.
 * {@link InferenceModel} reads it back.
 */
public final class PackedModelWriter {
    /** Dtype names in the file. */
    static final String TERNARY = PackedTernary.DTYPE, F32 = "f32", F16 = "f16", UTF8 = "u8";
    static final String TOKENIZER = "tokenizer.json";

    private PackedModelWriter() {}

    /** Packs {@code model} (host tensors) into {@code out}; {@code tokenizerJson} may be null. */
    public static void write(LlamaModel model, String tokenizerJson, PackedFloatMatvec.Format floats, Path out) {
        write(model, null, tokenizerJson, floats, out);
    }

    /**
     * Packs {@code model} with the ternary codes given (weights already stored as ±γ/0, {@link TernaryCodes#recognize}),
     * or, when {@code codes} is null, with Tern's quantizer applied to a TriLM's latent weights.
     */
    public static void write(LlamaModel model, TernaryCodes.ModelCodes codes, String tokenizerJson, PackedFloatMatvec.Format floats, Path out) {
        LlamaConfig c = codes == null ? model.config() : model.config().withPolicy(new LinearPolicy.Ternary(codes.shards()));
        Precision p = c.precision();
        if (!(p.weights() instanceof LinearPolicy.Ternary(int shards)))
            throw new IllegalArgumentException("only ternary models (TriLM) can be packed; this one's block precision is "
                    + p.weights().label());
        if (p.phaseIn() != 1f)
            throw new IllegalArgumentException("the model is still phasing ternary in (λ = " + p.phaseIn() + "); pack needs λ = 1");
        if (p.activationBits() != 0 || p.kvBits() != 0)
            throw new IllegalArgumentException("activation/KV fake quantization (" + p.activationBits() + "/" + p.kvBits()
                    + " bits) is not supported by packed inference");
        PackedFileWriter w = new PackedFileWriter();
        try (Arena arena = Arena.ofShared()) {
            for (Parameter param : model.parameters()) {
                Linear linear = linearOf(model, param);
                if (linear != null) addTernary(w, arena, param,
                        codes == null ? TernaryCodes.quantize(param.value, shards, linear.shardAxis()) : codes.byWeight().get(param));
                else if (param.value.rank() == 2) addFloat(w, arena, param, floats);
                else addFloat(w, arena, param, PackedFloatMatvec.Format.F32);
            }
            if (tokenizerJson != null) {
                MemorySegment t = PackedFileWriter.utf8(tokenizerJson);
                w.add(TOKENIZER, UTF8, new long[] {t.byteSize()}, Map.of(), t);
            }
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("packed_by", "tern pack");
            meta.put("ternary_packing", "t9: 16/9 bits per weight, 64-row tiles of 16-bit codes of three base-3 triples");
            w.write(out, Json.parseObject(HfConfig.write(c)), meta);
        }
    }

    private static Linear linearOf(LlamaModel model, Parameter p) {
        for (Linear l : model.blockLinears()) if (l.weight() == p) return l;
        return null;
    }

    private static void addTernary(PackedFileWriter w, Arena arena, Parameter param, TernaryCodes t) {
        int rows = t.rows(), cols = t.cols();
        MemorySegment codes = arena.allocate(PackedTernary.bytes(rows, cols, t.shards(), t.axis()), 64);
        PackedTernary.pack(t.trits(), rows, cols, t.gamma(), t.axis(), codes);
        List<Object> scales = new ArrayList<>();
        for (float g : t.gamma()) scales.add((double) g);
        Map<String, Object> attrs = new LinkedHashMap<>();
        attrs.put("scales", scales);
        attrs.put("shard_axis", t.axis() == ShardAxis.ROWS ? "rows" : "cols");
        w.add(param.name, TERNARY, new long[] {rows, cols}, attrs, codes);
    }

    private static void addFloat(PackedFileWriter w, Arena arena, Parameter param, PackedFloatMatvec.Format format) {
        Tensor t = param.value;
        long n = t.size();
        long[] shape = new long[t.rank()];
        for (int i = 0; i < shape.length; i++) shape[i] = t.dim(i);
        MemorySegment dst = arena.allocate(n * format.bytes, 64), src = t.segment();
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfShort f16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) {
            float v = src.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            if (!Float.isFinite(v)) throw new IllegalArgumentException(param.name + " holds a non-finite value at element " + i);
            if (format == PackedFloatMatvec.Format.F32) dst.set(f32, 4 * i, v);
            else {
                short h = Float.floatToFloat16(v);
                if (!Float.isFinite(Float.float16ToFloat(h)))
                    throw new IllegalArgumentException(param.name + " element " + i + " = " + v + " overflows f16; pack with --floats f32");
                dst.set(f16, 2 * i, h);
            }
        }
        w.add(param.name, format == PackedFloatMatvec.Format.F32 ? F32 : F16, shape, Map.of(), dst);
    }
}
