package tern.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * Numbers in checkpoint JSON: every long survives a write/parse exactly (64-bit RNG states and counters are
 * stored as JSON integers), larger integers and fractions come back as doubles.
 */
class JsonNumberTest {

    @Property(tries = 1000)
    void everyLongRoundTripsExactly(@ForAll long v) {
        assertEquals(v, Json.parseObject(Json.write(Map.of("v", v))).get("v"));
    }

    @Test
    void theExtremesAndBeyond() {
        assertEquals(List.of(Long.MIN_VALUE, Long.MAX_VALUE, 0L, -1L), Json.parse("[-9223372036854775808, 9223372036854775807, 0, -1]"));
        assertEquals(9223372036854775808.0, Json.parse("9223372036854775808"), "one past long: a double");
        assertEquals(-1e20, Json.parse("-100000000000000000000"));
        assertEquals(2.5, Json.parse("2.5"));
    }
}
