package tern.cuda;

/**
 * A stream capture, instantiation or replay that the driver refused, with its CUresult: the caller falls
 * back to eager launches (and says so) rather than fail the generation.
 */
public final class CudaGraphException extends RuntimeException {
    private final int result;

    CudaGraphException(String message, int result) {
        super(message);
        this.result = result;
    }

    CudaGraphException(String message, Throwable cause) {
        super(message, cause);
        this.result = -1;
    }

    /** The driver's CUresult, or -1 when the failure came from our own code inside the capture. */
    public int result() { return result; }
}
