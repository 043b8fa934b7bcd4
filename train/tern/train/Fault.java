package tern.train;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import tern.runtime.Device;
import tern.runtime.Parameter;

/**
 * Test-only fault injection, off unless a system property asks for it, so the fault paths of a real
 * {@code tern train} process can be exercised. {@code -Dtern.inject.nan=STEP[:PARAM][,STEP[:PARAM]...]}
 * turns one element of a gradient NaN right after the backward pass of each 1-based step listed (the
 * parameter named, else the one in the middle of the Hugging Face order), once per step per process: a
 * skipped or rolled-back step meets clean data the next time.
 */
public final class Fault {
    public static final String NAN_PROPERTY = "tern.inject.nan";
    /** step → parameter name ("" for the default one); entries are removed as they fire. */
    private static final Map<Long, String> PENDING_NAN = parse(System.getProperty(NAN_PROPERTY, ""));

    private Fault() {}

    static Map<Long, String> parse(String spec) {
        Map<Long, String> out = new ConcurrentHashMap<>();
        for (String item : spec.split(",")) {
            if (item.isBlank()) continue;
            String[] parts = item.strip().split(":", 2);
            try {
                out.put(Long.parseLong(parts[0]), parts.length > 1 ? parts[1] : "");
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-D" + NAN_PROPERTY + "=" + spec + ": '" + item + "' is not STEP or STEP:PARAMETER");
            }
        }
        return out;
    }

    /** In-process tests: poison {@code parameter}'s gradient (null: the default one) once, at 1-based step {@code step}. */
    public static void injectNan(long step, String parameter) {
        PENDING_NAN.put(step, parameter == null ? "" : parameter);
    }

    /** True while an injection waits to fire (the trainer then keeps its step eager: the NaN goes in between backward and norm). */
    static boolean armed() { return !PENDING_NAN.isEmpty(); }

        /** Forgets injections that have not fired (a test that ended early). */
    public static void clear() { PENDING_NAN.clear(); }

    /** The parameter a NaN is injected into when none is named. */
    public static String defaultTarget(List<Parameter> parameters) {
        return parameters.get(parameters.size() / 2).name;
    }

    /** Called by the trainer after the backward pass of step {@code step}: poisons a gradient if asked to. */
    static void afterBackward(long step, List<Parameter> parameters) {
        if (PENDING_NAN.isEmpty()) return;
        String name = PENDING_NAN.remove(step);
        if (name == null) return;
        String target = name.isEmpty() ? defaultTarget(parameters) : name;
        for (Parameter p : parameters) {
            if (!p.name.equals(target)) continue;
            if (p.grad.device() != Device.CPU) throw new IllegalStateException("-D" + NAN_PROPERTY + " works on the CPU backend only");
            p.grad.set(p.size() / 2, Float.NaN);
            return;
        }
        throw new IllegalArgumentException("-D" + NAN_PROPERTY + ": no parameter named '" + target + "'");
    }
}
