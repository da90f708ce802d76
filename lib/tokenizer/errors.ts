// Errors of the tokenizer layer. Every message names what it is about: the
// file and field, the token, the id and its position, or the message index.

/** A tokenizer folder, file or argument that cannot be used. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** A chat template that is missing, does not parse, or raised while rendering (its message is kept). */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}
