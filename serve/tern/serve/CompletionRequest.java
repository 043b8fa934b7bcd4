package tern.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tern.checkpoint.Json;

/**
 * A {@code POST /v1/completions} body, checked field by field against OpenAI's completions API. Every
 * problem is a 400 naming the field. The policy for fields:
 * <ul>
 *   <li>served: model, prompt (a string, or a list of one string), max_tokens (default 16), temperature
 *       (default 1, 0 = greedy, at most 2), top_p (default 1), top_k (not OpenAI's; default 0 = off, −1 means
 *       off as in vLLM), seed (default: a fresh random seed per request), stop (a string or a list of up to
 *       4 non-empty strings), stream, stream_options.include_usage, user (ignored);</li>
 *   <li>OpenAI fields Tern does not implement (n, best_of, echo, logprobs, suffix, presence_penalty,
 *       frequency_penalty, logit_bias) are accepted only at their no-op values (1, 1, false, null, null, 0,
 *       0, empty), so a client that sends its defaults works and one that relies on them is told;</li>
 *   <li>any other field is refused, as OpenAI does, so a misspelt parameter is not silently ignored.</li>
 * </ul>
 * A JSON null means the field's default.
 */
record CompletionRequest(String model, String prompt, int maxTokens, float temperature, float topP, int topK, long seed,
                         boolean seeded, List<String> stop, boolean stream, boolean includeUsage) {

    static final int DEFAULT_MAX_TOKENS = 16, MAX_STOPS = 4;
    private static final Set<String> SERVED = Set.of("model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed",
            "stop", "stream", "stream_options", "user");
    private static final Set<String> NO_OP = Set.of("n", "best_of", "echo", "logprobs", "suffix", "presence_penalty",
            "frequency_penalty", "logit_bias");

    /**
     * Parses and checks a request body; {@code maxTokensCap} is the server's limit on max_tokens and
     * {@code randomSeed} the seed used when the request gives none.
     */
    static CompletionRequest parse(String body, int maxTokensCap, long randomSeed) {
        Map<String, Object> m;
        try {
            m = Json.parseObject(body);
        } catch (Json.JsonException e) {
            throw ApiError.invalid(null, "the body is not a JSON object: " + e.getMessage());
        }
        for (Map.Entry<String, Object> e : m.entrySet()) {
            String k = e.getKey();
            if (NO_OP.contains(k)) checkNoOp(k, e.getValue());
            else if (!SERVED.contains(k))
                throw ApiError.invalid(k, "unknown field '" + k + "' (served: " + String.join(", ", new java.util.TreeSet<>(SERVED)) + ")");
        }
        String model = string(m, "model");
        String prompt = prompt(m.get("prompt"));
        int maxTokens = (int) integer(m, "max_tokens", DEFAULT_MAX_TOKENS, 1, Integer.MAX_VALUE);
        if (maxTokens > maxTokensCap)
            throw ApiError.invalid("max_tokens", "max_tokens " + maxTokens + " is over this server's limit of " + maxTokensCap + " (tern serve --max-tokens-cap)");
        float temperature = (float) number(m, "temperature", 1.0, 0.0, 2.0, true);
        float topP = (float) number(m, "top_p", 1.0, 0.0, 1.0, false);
        long topK = integer(m, "top_k", 0, -1, Integer.MAX_VALUE);
        Object seedValue = m.get("seed");
        long seed = seedValue == null ? randomSeed : integer(m, "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE);
        List<String> stop = stops(m.get("stop"));
        boolean stream = bool(m, "stream", false);
        boolean includeUsage = false;
        Object so = m.get("stream_options");
        if (so != null) {
            if (!(so instanceof Map<?, ?> opts)) throw ApiError.invalid("stream_options", "stream_options must be an object");
            if (!stream) throw ApiError.invalid("stream_options", "stream_options is only allowed with \"stream\": true");
            for (Map.Entry<?, ?> e : opts.entrySet()) {
                if (!"include_usage".equals(e.getKey()))
                    throw ApiError.invalid("stream_options", "unknown field stream_options." + e.getKey() + " (served: include_usage)");
                if (e.getValue() != null && !(e.getValue() instanceof Boolean))
                    throw ApiError.invalid("stream_options", "stream_options.include_usage must be true or false");
                includeUsage = Boolean.TRUE.equals(e.getValue());
            }
        }
        if (m.containsKey("user") && m.get("user") != null && !(m.get("user") instanceof String))
            throw ApiError.invalid("user", "user must be a string");
        return new CompletionRequest(model, prompt, maxTokens, temperature, topP, topK < 0 ? 0 : (int) topK, seed,
                seedValue != null, stop, stream, includeUsage);
    }

    private static void checkNoOp(String k, Object v) {
        boolean noOp = switch (k) {
            case "n", "best_of" -> v == null || Long.valueOf(1).equals(v);
            case "echo" -> v == null || Boolean.FALSE.equals(v);
            case "logprobs", "suffix" -> v == null;
            case "presence_penalty", "frequency_penalty" -> v == null || (v instanceof Number x && x.doubleValue() == 0);
            case "logit_bias" -> v == null || (v instanceof Map<?, ?> map && map.isEmpty());
            default -> throw new IllegalArgumentException(k);
        };
        if (!noOp) throw ApiError.invalid(k, "'" + k + "' is not supported by this server (only its default value is accepted), got " + Json.write(v));
    }

    private static String prompt(Object v) {
        if (v == null) throw ApiError.invalid("prompt", "prompt is required (a string)");
        if (v instanceof String s) return s;
        if (v instanceof List<?> l && l.size() == 1 && l.get(0) instanceof String s) return s;
        if (v instanceof List<?>) throw ApiError.invalid("prompt", "prompt must be a string or a list of one string (batches of prompts and token arrays are not served)");
        throw ApiError.invalid("prompt", "prompt must be a string, got " + kind(v));
    }

    private static List<String> stops(Object v) {
        List<String> out = new ArrayList<>();
        if (v == null) return out;
        if (v instanceof String s) out.add(s);
        else if (v instanceof List<?> l) {
            for (Object o : l) {
                if (!(o instanceof String s)) throw ApiError.invalid("stop", "stop must be a string or a list of strings, found " + kind(o) + " in the list");
                out.add(s);
            }
        } else throw ApiError.invalid("stop", "stop must be a string or a list of strings, got " + kind(v));
        if (out.size() > MAX_STOPS) throw ApiError.invalid("stop", "at most " + MAX_STOPS + " stop strings, got " + out.size());
        for (String s : out) if (s.isEmpty()) throw ApiError.invalid("stop", "a stop string must not be empty");
        return out;
    }

    private static String string(Map<String, Object> m, String k) {
        Object v = m.get(k);
        if (v == null || v instanceof String) return (String) v;
        throw ApiError.invalid(k, k + " must be a string, got " + kind(v));
    }

    private static boolean bool(Map<String, Object> m, String k, boolean fallback) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (v instanceof Boolean b) return b;
        throw ApiError.invalid(k, k + " must be true or false, got " + kind(v));
    }

    private static long integer(Map<String, Object> m, String k, long fallback, long min, long max) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (!(v instanceof Long n)) throw ApiError.invalid(k, k + " must be an integer, got " + kind(v) + " " + Json.write(v));
        if (n < min || n > max) throw ApiError.invalid(k, k + " must be in [" + min + ", " + max + "], got " + n);
        return n;
    }

    /** A number in [min, max] (or (min, max] when the minimum is excluded). */
    private static double number(Map<String, Object> m, String k, double fallback, double min, double max, boolean minIncluded) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (!(v instanceof Number n)) throw ApiError.invalid(k, k + " must be a number, got " + kind(v));
        double d = n.doubleValue();
        if (d > max || d < min || (!minIncluded && d == min))
            throw ApiError.invalid(k, k + " must be in " + (minIncluded ? "[" : "(") + min + ", " + max + "], got " + Json.write(v));
        return d;
    }

    private static String kind(Object v) {
        return switch (v) {
            case null -> "null";
            case String s -> "a string";
            case Boolean b -> "a boolean";
            case Long l -> "an integer";
            case Number n -> "a number";
            case List<?> l -> "a list";
            case Map<?, ?> mm -> "an object";
            default -> v.getClass().getSimpleName();
        };
    }
}
