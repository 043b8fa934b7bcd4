package tern.checkpoint;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader and writer (RFC 8259), enough for config.json, tokenizer.json,
 * safetensors headers and JSONL. Objects become {@code LinkedHashMap<String,Object>} (key order kept),
 * arrays {@code List<Object>}, numbers {@code Long} when integral and in range, else {@code Double}.
 * Malformed input throws {@link JsonException} with the offset of the problem; nesting is bounded so a
 * hostile file cannot overflow the stack.
 */
public final class Json {
    private static final int MAX_DEPTH = 512;

    private final String text;
    private final boolean uniqueKeys;
    private int pos;

    private Json(String text, boolean uniqueKeys) {
        this.text = text;
        this.uniqueKeys = uniqueKeys;
    }

    /** Malformed JSON: the message names the offset and what was expected. */
    public static class JsonException extends RuntimeException {
        public JsonException(String message) { super(message); }
    }

    /**
     * A key that appears twice in one object, in {@link #parseUniqueObject}. RFC 8259 leaves such objects'
     * meaning to the reader; readers differ (most keep the last), so formats where a key names one thing
     * (a tensor, a config setting) refuse them rather than guess.
     */
    public static final class DuplicateKeyException extends JsonException {
        private final String key;

        DuplicateKeyException(String key, int offset) {
            super("duplicate key '" + key + "' at offset " + offset);
            this.key = key;
        }

        public String key() { return key; }
    }

    public static Object parse(String text) { return parse(text, false); }

    private static Object parse(String text, boolean uniqueKeys) {
        Json p = new Json(text, uniqueKeys);
        p.skipSpace();
        Object v = p.value(0);
        p.skipSpace();
        if (p.pos != text.length()) throw p.error("trailing characters");
        return v;
    }

    public static Map<String, Object> parseObject(String text) { return asObject(parse(text, false)); }

    /** {@link #parseObject}, refusing a key repeated in any object with a {@link DuplicateKeyException}. */
    public static Map<String, Object> parseUniqueObject(String text) { return asObject(parse(text, true)); }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asObject(Object v) {
        if (!(v instanceof Map)) throw new JsonException("expected a JSON object at the top level");
        return (Map<String, Object>) v;
    }

    private Object value(int depth) {
        if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
        if (pos >= text.length()) throw error("unexpected end of input");
        char c = text.charAt(pos);
        return switch (c) {
            case '{' -> object(depth);
            case '[' -> array(depth);
            case '"' -> string();
            case 't' -> literal("true", Boolean.TRUE);
            case 'f' -> literal("false", Boolean.FALSE);
            case 'n' -> literal("null", null);
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) yield number();
                throw error("unexpected character '" + c + "'");
            }
        };
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> map = new LinkedHashMap<>();
        pos++;
        skipSpace();
        if (peek() == '}') { pos++; return map; }
        while (true) {
            skipSpace();
            if (peek() != '"') throw error("expected a string key");
            int keyAt = pos;
            String key = string();
            if (uniqueKeys && map.containsKey(key)) throw new DuplicateKeyException(key, keyAt);
            skipSpace();
            expect(':');
            skipSpace();
            map.put(key, value(depth + 1));
            skipSpace();
            char c = next();
            if (c == '}') return map;
            if (c != ',') throw error("expected ',' or '}' in object");
        }
    }

    private List<Object> array(int depth) {
        List<Object> list = new ArrayList<>();
        pos++;
        skipSpace();
        if (peek() == ']') { pos++; return list; }
        while (true) {
            skipSpace();
            list.add(value(depth + 1));
            skipSpace();
            char c = next();
            if (c == ']') return list;
            if (c != ',') throw error("expected ',' or ']' in array");
        }
    }

    private String string() {
        expect('"');
        StringBuilder sb = new StringBuilder();
        while (true) {
            char c = next();
            if (c == '"') return sb.toString();
            if (c < 0x20) throw error("control character in string");
            if (c != '\\') { sb.append(c); continue; }
            char e = next();
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) throw error("truncated \\u escape");
                    int cp = 0;
                    for (int i = 0; i < 4; i++) {
                        int d = Character.digit(text.charAt(pos++), 16);
                        if (d < 0) throw error("bad hex digit in \\u escape");
                        cp = cp * 16 + d;
                    }
                    sb.append((char) cp);
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private Object number() {
        int start = pos;
        if (peek() == '-') pos++;
        digits();
        boolean integral = true;
        if (pos < text.length() && text.charAt(pos) == '.') { integral = false; pos++; digits(); }
        if (pos < text.length() && (text.charAt(pos) == 'e' || text.charAt(pos) == 'E')) {
            integral = false;
            pos++;
            if (pos < text.length() && (text.charAt(pos) == '+' || text.charAt(pos) == '-')) pos++;
            digits();
        }
        String s = text.substring(start, pos);
        if (integral) {
            try {
                return Long.parseLong(s);                  // every long exactly, 64-bit RNG states included
            } catch (NumberFormatException beyondLong) {
                // an integer outside the long range: a double, as for any other large number
            }
        }
        double d = Double.parseDouble(s);
        // 1e400 would read as infinity, which the writer (and every error message quoting it) refuses
        if (Double.isInfinite(d)) throw error("number " + s + " is out of range");
        return d;
    }

    private void digits() {
        int start = pos;
        while (pos < text.length() && text.charAt(pos) >= '0' && text.charAt(pos) <= '9') pos++;
        if (pos == start) throw error("expected a digit");
    }

    private Object literal(String word, Object value) {
        if (!text.startsWith(word, pos)) throw error("expected " + word);
        pos += word.length();
        return value;
    }

    private void skipSpace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
            pos++;
        }
    }

    private char peek() {
        if (pos >= text.length()) throw error("unexpected end of input");
        return text.charAt(pos);
    }

    private char next() {
        char c = peek();
        pos++;
        return c;
    }

    private void expect(char c) {
        if (next() != c) throw error("expected '" + c + "'");
    }

    private JsonException error(String what) {
        return new JsonException("malformed JSON at offset " + pos + ": " + what);
    }

    // ---- writing -------------------------------------------------------------------------------------

    /** Compact JSON for maps, lists, strings, numbers, booleans and null. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, -1, 0);
        return sb.toString();
    }

    /** Indented JSON (2 spaces), as people and config.json readers like it. */
    public static String pretty(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, 2, 0);
        return sb.append('\n').toString();
    }

    private static void write(Object v, StringBuilder sb, int indent, int level) {
        switch (v) {
            case null -> sb.append("null");
            case String s -> quote(s, sb);
            case Boolean b -> sb.append(b);
            case Double d -> sb.append(finite(d) ? number(d) : fail("non-finite number " + d));
            case Float f -> sb.append(finite(f) ? number(f.doubleValue()) : fail("non-finite number " + f));
            case Number n -> sb.append(n);
            case Map<?, ?> m -> {
                sb.append('{');
                int i = 0;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (i++ > 0) sb.append(',');
                    newline(sb, indent, level + 1);
                    quote(String.valueOf(e.getKey()), sb);
                    sb.append(indent >= 0 ? ": " : ":");
                    write(e.getValue(), sb, indent, level + 1);
                }
                if (i > 0) newline(sb, indent, level);
                sb.append('}');
            }
            case Iterable<?> list -> {
                sb.append('[');
                int i = 0;
                for (Object o : list) {
                    if (i++ > 0) sb.append(indent >= 0 ? ", " : ",");
                    write(o, sb, indent, level + 1);
                }
                sb.append(']');
            }
            default -> throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
        }
    }

    private static boolean finite(double d) { return !Double.isNaN(d) && !Double.isInfinite(d); }

    private static String number(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d) + ".0";
        return Double.toString(d);
    }

    private static String fail(String why) { throw new IllegalArgumentException(why); }

    private static void newline(StringBuilder sb, int indent, int level) {
        if (indent < 0) return;
        sb.append('\n');
        sb.append(" ".repeat(indent * level));
    }

    private static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
