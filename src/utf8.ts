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

/**
 * Bytes as Go's range over a string reads them: each well-formed UTF-8 sequence as its character,
 * each byte of one that is not as one U+FFFD (utf8.DecodeRune's RuneError, width 1). What Docker's
 * .dockerignore matcher (Go's regexp) sees of a name that is not UTF-8, where Node's decoder reads a
 * cut sequence as one U+FFFD.
 */
export function goText(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceAt(bytes, i);
    if (n === 0) {
      out += '\uFFFD';
      i++;
      continue;
    }
    out += NAME.decode(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** The length of the well-formed UTF-8 sequence at `i` (Go's acceptRanges: no overlong form, no surrogate, none past U+10FFFF), or 0. */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
