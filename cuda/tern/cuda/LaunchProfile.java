package tern.cuda;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import jcuda.driver.CUevent;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

/**
 * GPU time per kernel name while switched on (benchmarks: where a training step's time goes): a pair of
 * CUDA events on the default stream around each launch, read back in batches. Off, it costs one branch a
 * launch. Recording events adds host time per launch, so profiled steps are timed apart from measured ones.
 */
final class LaunchProfile {
    private static final int BATCH = 4096;              // event pairs read back at a time

    private final List<CUevent[]> pool = new ArrayList<>();
    private final List<String> pending = new ArrayList<>();
    private final Map<String, double[]> totals = new HashMap<>();   // name → {ms, launches}
    private final Map<String, double[]> host = new HashMap<>();     // what the host did → {ms, calls}
    private boolean on;

    void enable(boolean enabled) {
        if (!enabled) drain();
        on = enabled;
    }

    boolean on() { return on; }

    /** Records the start event of the next launch; returns the pair to hand to {@link #end}, or null when off. */
    CUevent[] begin() {
        if (!on) return null;
        if (pending.size() == BATCH) drain();
        int i = pending.size();
        if (i == pool.size()) {
            CUevent start = new CUevent(), stop = new CUevent();
            cuEventCreate(start, 0);
            cuEventCreate(stop, 0);
            pool.add(new CUevent[] {start, stop});
        }
        CUevent[] pair = pool.get(i);
        cuEventRecord(pair[0], null);
        return pair;
    }

    void end(CUevent[] pair, String name) {
        if (pair == null) return;
        cuEventRecord(pair[1], null);
        pending.add(name);
    }

    /** Host time of one call of kind {@code what} (launching, allocating, reading back), when on. */
    void host(String what, long nanos) {
        if (!on) return;
        double[] t = host.computeIfAbsent(what, n -> new double[2]);
        t[0] += nanos / 1e6;
        t[1]++;
    }

    private void drain() {
        for (int i = 0; i < pending.size(); i++) {
            CUevent[] pair = pool.get(i);
            cuEventSynchronize(pair[1]);
            float[] ms = {0};
            cuEventElapsedTime(ms, pair[0], pair[1]);
            double[] t = totals.computeIfAbsent(pending.get(i), n -> new double[2]);
            t[0] += ms[0];
            t[1]++;
        }
        pending.clear();
    }

    /** Lines "name  total ms  launches  ms/launch  share", largest first, since the last {@link #reset}. */
    String report(double perSteps) {
        drain();
        double all = totals.values().stream().mapToDouble(t -> t[0]).sum();
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "%-28s %10s %9s %10s %6s%n", "kernel", "ms/step", "launches", "us/launch", "share"));
        totals.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0])).forEach(e -> {
            double[] t = e.getValue();
            out.append(String.format(Locale.ROOT, "%-28s %10.3f %9.0f %10.1f %5.1f%%%n", e.getKey(), t[0] / perSteps,
                    t[1] / perSteps, 1e3 * t[0] / t[1], 100 * t[0] / all));
        });
        out.append(String.format(Locale.ROOT, "%-28s %10.3f%n", "sum of GPU time", all / perSteps));
        out.append(String.format(Locale.ROOT, "%-28s %10s %9s %10s%n", "host", "ms/step", "calls", "us/call"));
        host.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0])).forEach(e -> {
            double[] t = e.getValue();
            out.append(String.format(Locale.ROOT, "%-28s %10.3f %9.0f %10.1f%n", e.getKey(), t[0] / perSteps, t[1] / perSteps,
                    1e3 * t[0] / t[1]));
        });
        return out.toString();
    }

    void reset() {
        drain();
        totals.clear();
        host.clear();
    }

    void close() {
        drain();
        for (CUevent[] pair : pool) {
            cuEventDestroy(pair[0]);
            cuEventDestroy(pair[1]);
        }
        pool.clear();
    }
}
