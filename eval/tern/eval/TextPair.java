package tern.eval;

/** A context and the continuation whose likelihood is asked for, as text (before tokenization). */
public record TextPair(String context, String continuation) {}
