package tern.eval;

import java.util.List;
import java.util.Map;

/**
 * One record of a task file, with typed field access whose errors name the file, the line and the field.
 */
public record Doc(String where, Map<String, Object> fields) {

    public String string(String name) {
        Object v = require(name);
        if (!(v instanceof String s)) throw bad(name, "is not a string");
        return s;
    }

    /** A string field, or an integral number given as a number (labels appear both ways in public files). */
    public String stringOrInteger(String name) {
        Object v = require(name);
        if (v instanceof String s) return s;
        if (v instanceof Long l) return Long.toString(l);
        throw bad(name, "is neither a string nor an integer");
    }

    public int integer(String name) {
        String s = stringOrInteger(name).strip();
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw bad(name, "is not an integer: '" + s + "'");
        }
    }

    @SuppressWarnings("unchecked")
    public Doc object(String name) {
        Object v = require(name);
        if (!(v instanceof Map<?, ?> m)) throw bad(name, "is not an object");
        return new Doc(where + " (in '" + name + "')", (Map<String, Object>) m);
    }

    public List<Object> list(String name) {
        Object v = require(name);
        if (!(v instanceof List<?> l)) throw bad(name, "is not a list");
        return java.util.Collections.unmodifiableList(new java.util.ArrayList<Object>(l));   // JSON nulls allowed here, refused by the caller
    }

    /** A list whose elements must all be strings. */
    public List<String> strings(String name) {
        List<Object> l = list(name);
        return l.stream().map(o -> {
            if (!(o instanceof String s)) throw bad(name, "holds a non-string element");
            return s;
        }).toList();
    }

    private Object require(String name) {
        if (!fields.containsKey(name) || fields.get(name) == null) throw new TaskFormatException(where + ": missing field '" + name + "'");
        return fields.get(name);
    }

    public TaskFormatException bad(String name, String problem) {
        return new TaskFormatException(where + ": field '" + name + "' " + problem);
    }
}
