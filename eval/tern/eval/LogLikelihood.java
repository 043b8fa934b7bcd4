package tern.eval;

import java.util.List;

/**
 * Scores log-likelihood requests: the one thing evaluation needs from a model. Tasks, prompts and metrics
 * are built and tested against this interface with fake scorers; {@link ModelScorer} is the real one.
 */
@FunctionalInterface
public interface LogLikelihood {
    /** One score per request, in the same order. */
    List<Score> score(List<Request> requests);
}
