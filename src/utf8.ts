// Strict UTF-8 decoding: bytes that are not UTF-8 are refused (undefined),
// never read as U+FFFD, which would make two different byte strings one.

/** A decoder that drops a leading byte order mark: for the text of a file. */
const TEXT = new TextDecoder('utf-8', { fatal: true });
/** One that keeps it: a name that starts with U+FEFF is another name than the one without it. */
const NAME = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of a file (a leading byte order mark dropped), or undefined where it is not UTF-8. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return TEXT.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A name or other field, every character kept, or undefined where it is not UTF-8. */
export function utf8Name(bytes: Uint8Array): string | undefined {
  try {
    return NAME.decode(bytes);
  } catch {
    return undefined;
  }
}
