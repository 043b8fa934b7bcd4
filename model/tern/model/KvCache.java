package tern.model;

import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Keys and values of every layer for the positions seen so far of one sequence, so a decode step attends
 * to the past without recomputing it. Keys are stored after the rotary embedding (and after KV fake
 * quantization when the precision asks for it), i.e. exactly what the attention reads.
 */
public final class KvCache implements AutoCloseable {
    private final Tensor[] keys, values;     // per layer [capacity, hidden]
    private final int capacity;
    private int length;

    public KvCache(Backend backend, LlamaConfig config, int capacity) {
        if (capacity < 1 || capacity > config.contextLength())
            throw new IllegalArgumentException("KV cache capacity must be in 1.." + config.contextLength()
                    + " (the context length), got " + capacity);
        this.capacity = capacity;
        keys = new Tensor[config.layers()];
        values = new Tensor[config.layers()];
        for (int i = 0; i < config.layers(); i++) {
            keys[i] = backend.zeros(DType.F32, capacity, config.hidden());
            values[i] = backend.zeros(DType.F32, capacity, config.hidden());
        }
    }

    public int capacity() { return capacity; }

    /** Positions filled so far; the next token is at this position. */
    public int length() { return length; }

    /** Forgets every position (a new sequence); the memory is reused. */
    public void reset() { length = 0; }

    /**
     * Forgets the positions from {@code length} on, keeping the prefix before it: the next decode writes
     * over them (scoring several continuations of one cached context).
     */
    public void truncate(int length) {
        if (length < 0 || length > this.length)
            throw new IllegalArgumentException("cannot truncate a KV cache of " + this.length + " positions to " + length);
        this.length = length;
    }

    /** Rows [from, to) of layer {@code layer}'s keys. */
    Tensor keys(int layer, int from, int to) { return keys[layer].slice(from, to); }

    Tensor values(int layer, int from, int to) { return values[layer].slice(from, to); }

    /** Marks {@code n} more positions as filled (after every layer wrote them). */
    void advance(int n) {
        if (length + n > capacity)
            throw new IllegalStateException("KV cache full: " + length + " + " + n + " positions > capacity " + capacity);
        length += n;
    }

    @Override
    public void close() {
        for (Tensor t : keys) t.close();
        for (Tensor t : values) t.close();
    }
}
