package tern.checkpoint;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.FullMoments;
import tern.runtime.Optimizer;
import tern.runtime.Parameter;
import tern.runtime.Tensor;

/**
 * AdamW's state as {@code optimizer.safetensors}: {@code exp_avg.<param>} and {@code exp_avg_sq.<param>}
 * (f32, so a resume is exact) for every parameter, and the optimizer's step in the metadata ({@code step};
 * betas and eps are recorded for people, not enforced). Loading checks everything first (every moment
 * present, shaped as its parameter, nothing unknown) and only then copies, so a bad file leaves the
 * optimizer untouched.
 */
public final class OptimizerState {
    public static final String FILE = "optimizer.safetensors";
    static final String FIRST = "exp_avg.", SECOND = "exp_avg_sq.";

    private OptimizerState() {}

    public static String firstMomentName(String param) { return FIRST + param; }

    public static String secondMomentName(String param) { return SECOND + param; }

    /**
     * A snapshot of the moments as file content. Host moments are referenced (write before the next
     * update); device moments are downloaded now.
     */
    public static AtomicFiles.Content content(Optimizer opt, Backend backend) {
        return content(opt, opt.fullMoments(), backend);
    }

    /**
     * The same from moments already at hand (a sharded optimizer's gathered ones: write the content before
     * closing them).
     */
    public static AtomicFiles.Content content(Optimizer opt, FullMoments moments, Backend backend) {
        return content(opt, moments, new HostCopies(backend));   // for host moments; device ones: use the HostCopies form
    }

    /**
     * The same with the host copies of device moments held by {@code copies}: close it after the content is
     * written.
     */
    public static AtomicFiles.Content content(Optimizer opt, FullMoments moments, HostCopies copies) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Parameter p : opt.parameters()) {
            tensors.put(firstMomentName(p.name), copies.of(moments.first(p)));
            tensors.put(secondMomentName(p.name), copies.of(moments.second(p)));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("step", Long.toString(opt.step()));
        meta.put("beta1", Float.toString(opt.beta1()));
        meta.put("beta2", Float.toString(opt.beta2()));
        meta.put("eps", Float.toString(opt.eps()));
        return Safetensors.content(tensors, meta, DType.F32);
    }

    /** Restores the moments and step of {@code opt} from {@code file}. */
    public static void load(Path file, Optimizer opt, Backend backend) {
        load(file, opt, backend, tern.runtime.ParameterLayout.WHOLE);
    }

    /**
     * As {@link #load(Path, Optimizer, Backend)} for an optimizer of a rank holding {@code layout}'s parts of
     * the parameters: the file holds the whole model's moments (whatever degree of tensor parallelism wrote
     * it), each checked against the whole shape and cut to this rank's part.
     */
    public static void load(Path file, Optimizer opt, Backend backend, tern.runtime.ParameterLayout layout) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            String step = f.metadata().get("step");
            long s;
            try {
                s = Long.parseLong(step);
            } catch (NumberFormatException | NullPointerException e) {
                throw new CheckpointException(file, "metadata step = " + step + " is not the optimizer's step count");
            }
            if (s < 0) throw new CheckpointException(file, "metadata step = " + s + " is negative");
            Set<String> expected = new HashSet<>();
            for (Parameter p : opt.parameters()) {
                for (String name : List.of(firstMomentName(p.name), secondMomentName(p.name))) {
                    expected.add(name);
                    if (!f.contains(name)) throw new CheckpointException(file, "tensor '" + name + "' is missing (parameter " + p.name + ")");
                    SafetensorsHeader.Entry e = f.entry(name);
                    if (!Arrays.equals(e.shape(), layout.wholeShape(p)))
                        throw new CheckpointException(file, "tensor '" + name + "': shape " + Arrays.toString(e.shape())
                                + " does not match parameter " + p.name + " " + Arrays.toString(layout.wholeShape(p)));
                    if (e.dtype() != SafetensorsDType.F32 && e.dtype() != SafetensorsDType.F16 && e.dtype() != SafetensorsDType.BF16)
                        throw new CheckpointException(file, "tensor '" + name + "': dtype " + e.dtype() + " is not a float type");
                }
            }
            for (String name : f.names())
                if (!expected.contains(name))
                    throw new CheckpointException(file, "tensor '" + name + "' matches no parameter of this model");
            for (Parameter p : opt.parameters())
                try (Tensor first = f.tensor(firstMomentName(p.name)); Tensor second = f.tensor(secondMomentName(p.name))) {
                    Tensor a = layout.part(p, first), b = layout.part(p, second);
                    try {
                        opt.loadMoments(p, a, b);
                    } finally {
                        if (a != first) a.close();
                        if (b != second) b.close();
                    }
                }
            opt.setStep(s);
        }
    }
}
