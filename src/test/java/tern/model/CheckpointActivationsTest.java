package tern.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tern.runtime.Granularity;
import tern.runtime.Parameter;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static tern.model.ModelTestSupport.*;

/**
 * Activation checkpointing ({@link LlamaModel#setCheckpointActivations}, {@link tern.runtime.Tape#checkpoint})
 * changes where the block intermediates live, not what is computed: on the scalar CPU backend (reproducible
 * call to call) the loss and every parameter gradient equal those without checkpointing bit for bit, for
 * float, ternary (packed kernel and phase-in), k-bit activations and KV, and over two accumulated
 * micro-batches (the gradients must add the same way).
 */
class CheckpointActivationsTest {
    static final int BATCH = 2, SEQ = 7;

    static List<Precision> precisions() {
        return List.of(Precision.FLOAT,
                Precision.of(new LinearPolicy.Ternary(1)),
                Precision.of(new LinearPolicy.Ternary(2)).withPhaseIn(0.5f),
                Precision.of(new LinearPolicy.Int(4, Granularity.ROW)).withActivationBits(8).withKvBits(4));
    }

    @ParameterizedTest
    @MethodSource("precisions")
    void gradientsWithCheckpointingEqualThoseWithoutBitForBit(Precision precision) {
        LlamaConfig config = new LlamaConfig(29, 16, 24, 3, 2, 8, 1e-5f, 10000f, 1, precision);
        try (LlamaModel plain = model(SCALAR, config, 3, 4f); LlamaModel checkpointed = model(SCALAR, config, 3, 4f)) {
            checkpointed.setCheckpointActivations(true);
            for (LlamaModel m : List.of(plain, checkpointed)) for (Parameter p : m.parameters()) p.zeroGrad(SCALAR);
            for (int micro = 0; micro < 2; micro++) {
                int[] in = tokens(BATCH * SEQ, config.vocabSize(), 10 + micro);
                int[] tg = tokens(BATCH * SEQ, config.vocabSize(), 20 + micro);
                tg[3] = -1;                                       // an ignored target
                float a = accumulate(plain, in, tg), b = accumulate(checkpointed, in, tg);
                assertEquals(Float.floatToIntBits(a), Float.floatToIntBits(b), "loss " + a + " vs " + b + " of " + precision);
            }
            for (Parameter p : plain.parameters()) {
                float[] g = p.grad.toFloatArray(), c = checkpointed.parameter(p.name).grad.toFloatArray();
                boolean any = false;
                for (float v : g) any |= v != 0f;
                assertEquals(true, any, p.name + " got no gradient: the comparison would prove nothing");
                assertArrayEquals(g, c, 0f, p.name + " of " + precision);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("precisions")
    void lossWithoutRecordingIsTheSame(Precision precision) {
        LlamaConfig config = new LlamaConfig(29, 16, 24, 2, 2, 8, 1e-5f, 10000f, 1, precision);
        try (LlamaModel m = model(SCALAR, config, 5, 4f)) {
            int[] in = tokens(BATCH * SEQ, config.vocabSize(), 1), tg = tokens(BATCH * SEQ, config.vocabSize(), 2);
            float plain = loss(m, in, tg, BATCH, SEQ);
            m.setCheckpointActivations(true);
            assertEquals(Float.floatToIntBits(plain), Float.floatToIntBits(loss(m, in, tg, BATCH, SEQ)));
        }
    }

    private static float accumulate(LlamaModel m, int[] in, int[] tg) {
        try (tern.runtime.Tape tape = new tern.runtime.Tape(m.backend())) {
            float l = m.loss(tape, in, tg, BATCH, SEQ, 0.5f);
            tape.backward();
            return l;
        }
    }
}
