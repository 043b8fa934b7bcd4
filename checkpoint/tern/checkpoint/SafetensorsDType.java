package tern.checkpoint;

import tern.runtime.DType;

/**
 * The element types the safetensors format defines, with their header names and sizes. Every one is
 * recognised so that sizes can be validated; only some have a Tern {@link DType} to load into.
 */
public enum SafetensorsDType {
    BOOL(1, null), U8(1, null), I8(1, DType.I8), F8_E5M2(1, null), F8_E4M3(1, null), F8_E8M0(1, null),
    I16(2, null), U16(2, null), F16(2, DType.F16), BF16(2, DType.BF16),
    I32(4, DType.I32), U32(4, null), F32(4, DType.F32),
    F64(8, null), I64(8, null), U64(8, null), C64(8, null);

    /** Bytes per element. */
    public final int bytes;
    /** The Tern element type with the same bits, or null when Tern has none. */
    public final DType tern;

    SafetensorsDType(int bytes, DType tern) {
        this.bytes = bytes;
        this.tern = tern;
    }

    /** The type named in a header, or null for a name the format does not define. */
    public static SafetensorsDType byName(String name) {
        for (SafetensorsDType t : values())
            if (t.name().equals(name)) return t;
        return null;
    }

    /** The safetensors type that stores a Tern type as is; packed types have none. */
    public static SafetensorsDType of(DType dtype) {
        for (SafetensorsDType t : values())
            if (t.tern == dtype) return t;
        throw new IllegalArgumentException(dtype + " has no safetensors element type (packed formats have their own files)");
    }
}
