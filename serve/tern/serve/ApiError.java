package tern.serve;

import java.util.LinkedHashMap;
import java.util.Map;
import tern.checkpoint.Json;

/**
 * A request the server answers with an error status and an OpenAI-style body:
 * {@code {"error": {"message", "type", "param", "code"}}}. {@code param} names the request field at
 * fault (or is null).
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String param;

    ApiError(int status, String type, String param, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
    }

    static ApiError invalid(String param, String message) { return new ApiError(400, "invalid_request_error", param, message); }

    static ApiError busy(String message) { return new ApiError(429, "rate_limit_error", null, message); }

    static ApiError unavailable(String message) { return new ApiError(503, "server_unavailable", null, message); }

    static ApiError internal(String message) { return new ApiError(500, "server_error", null, message); }

    /** The error object alone (for a stream's error event as for a response body). */
    Map<String, Object> body() {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", getMessage());
        e.put("type", type);
        e.put("param", param);
        e.put("code", null);
        return Map.of("error", e);
    }

    String json() { return Json.write(body()); }
}
