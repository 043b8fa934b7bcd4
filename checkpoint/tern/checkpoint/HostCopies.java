package tern.checkpoint;

import tern.runtime.Backend;
import tern.runtime.Device;
import tern.runtime.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Host views of tensors for writing a file: a host tensor is used as it is, a device tensor is downloaded
 * into a host copy that this object owns. Host memory is an explicitly closed arena, so the copies a GPU
 * checkpoint makes (12 bytes a parameter with the moments) are freed by {@link #close()} once the files
 * are written, not kept until the process ends.
 */
public final class HostCopies implements AutoCloseable {
    private final Backend backend;
    private final List<Tensor> made = new ArrayList<>();

    public HostCopies(Backend backend) { this.backend = backend; }

    /** {@code t} itself on the host; else a host copy, closed with this object. */
    public Tensor of(Tensor t) {
        if (t.device() == Device.CPU) return t;
        Tensor copy = Tensor.of(backend.download(t), t.shape());
        made.add(copy);
        return copy;
    }

    /** How many host copies are held (0 when every tensor was already on the host). */
    public int held() { return made.size(); }

    @Override
    public void close() {
        for (Tensor t : made) t.close();
        made.clear();
    }
}
