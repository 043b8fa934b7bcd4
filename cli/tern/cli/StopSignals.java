package tern.cli;

/**
 * SIGTERM and SIGINT as a request to stop cleanly: the handler runs {@code onStop} and the command then
 * exits 0 once its work is wound down (the JVM's default would run shutdown hooks and exit 143). Uses
 * {@code sun.misc.Signal} (module jdk.unsupported, kept for exactly this); where it is missing, a shutdown
 * hook runs {@code onStop} instead and the exit status is the JVM's.
 */
final class StopSignals {
    private StopSignals() {}

    static void install(Runnable onStop) {
        try {
            for (String name : new String[] {"TERM", "INT"}) sun.misc.Signal.handle(new sun.misc.Signal(name), s -> onStop.run());
        } catch (LinkageError | IllegalArgumentException e) {
            Runtime.getRuntime().addShutdownHook(new Thread(onStop, "tern-stop"));
        }
    }
}
