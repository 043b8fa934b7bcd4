package tern.runtime;

/** Where a tensor's storage lives. A backend is chosen once and serves one device. */
public enum Device { CPU, CUDA }
