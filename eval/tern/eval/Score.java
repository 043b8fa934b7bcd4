package tern.eval;

/**
 * The answer to a {@link Request}: the summed natural-log probability of the continuation tokens, and
 * whether every continuation token was the model's greedy (arg-max) choice at its position.
 */
public record Score(double logLikelihood, boolean greedy) {}
