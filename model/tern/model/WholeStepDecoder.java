package tern.model;

import java.lang.reflect.InvocationTargetException;

import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * A one-token decode step that a backend runs whole, outside the op-by-op forward (tern.cuda's
 * CudaGraphDecodeStep: the step as one CUDA graph). {@link Generator} uses one where the backend offers it;
 * it is loaded by name, as cli/Devices loads the CUDA backend, so this package does not depend on the
 * CUDA classes.
 */
public interface WholeStepDecoder extends AutoCloseable {
    /**
     * Row b decodes {@code tokens[b]} at {@code positions[b]}, reading and writing its KV caches
     * {@code keys[b][layer]}, {@code values[b][layer]} (KvCache's [capacity, hidden] tensors); returns the
     * logits, rows × vocab, row-major.
     */
    float[] step(int[] tokens, int[] positions, Tensor[][] keys, Tensor[][] values);

    /** How the steps run (for logs and benchmarks). */
    String describe();

    @Override void close();

    /**
     * The whole-step decoder of {@code className} for one-row steps of {@code model} over {@code packed}
     * weights (its static {@code open(LlamaModel, TernaryWeights[][], boolean)}), or null when the class is
     * absent or declines (it says why itself).
     */
    static WholeStepDecoder load(String className, LlamaModel model, TernaryWeights[][] packed, boolean capture) {
        try {
            Object d = Class.forName(className).getMethod("open", LlamaModel.class, TernaryWeights[][].class, boolean.class)
                    .invoke(null, model, packed, capture);
            return (WholeStepDecoder) d;
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            return null;
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(className + ".open failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(className + " has no usable open(LlamaModel, TernaryWeights[][], boolean): " + e, e);
        }
    }
}
