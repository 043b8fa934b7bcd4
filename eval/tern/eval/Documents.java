package tern.eval;

import tern.checkpoint.Json;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads a task file into {@link Doc}s: JSON Lines (one object a line; trailing blank lines allowed, a blank
 * line between records is an error), or one JSON array of objects (SciQ's public files).
 */
public final class Documents {
    private Documents() {}

    public static List<Doc> read(Path file) throws IOException {
        String text;
        try {
            text = tern.checkpoint.Utf8.read(file);
        } catch (tern.checkpoint.Utf8.MalformedText e) {
            throw new TaskFormatException(file + ": " + e.problem());
        }
        if (text.startsWith("\uFEFF")) text = text.substring(1);
        return PyText.lstrip(text).startsWith("[") ? readArray(file, text) : readLines(file, text);
    }

    static List<Doc> readLines(Path file, String text) {
        String[] lines = text.split("\n", -1);
        int last = lines.length;
        while (last > 0 && lines[last - 1].isBlank()) last--;
        List<Doc> docs = new ArrayList<>(last);
        for (int i = 0; i < last; i++) {
            String where = file + ":" + (i + 1);
            String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            if (line.isBlank()) throw new TaskFormatException(where + ": blank line between records");
            try {
                docs.add(new Doc(where, Json.parseObject(line)));
            } catch (Json.JsonException e) {
                throw new TaskFormatException(where + ": " + e.getMessage());
            }
        }
        return docs;
    }

    @SuppressWarnings("unchecked")
    static List<Doc> readArray(Path file, String text) {
        Object parsed;
        try {
            parsed = Json.parse(text);
        } catch (Json.JsonException e) {
            throw new TaskFormatException(file + ": " + e.getMessage());
        }
        if (!(parsed instanceof List<?> list)) throw new TaskFormatException(file + ": expected a JSON array of records");
        List<Doc> docs = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            String where = file + " record " + (i + 1);
            if (!(list.get(i) instanceof Map<?, ?> m)) throw new TaskFormatException(where + ": not a JSON object");
            docs.add(new Doc(where, (Map<String, Object>) m));
        }
        return docs;
    }
}
