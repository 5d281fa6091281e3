// YAML scalars for the Repfiles rep init writes (from configuration files and
// from a Dockerfile alike): a plain word when YAML reads it back as the same
// string, else a double-quoted scalar (JSON is YAML), so no value can add a
// line, a field or a comment.

// A plain scalar may not start with a YAML indicator (- ? : , [ ] { } # & * ! | > ' " % @ `); a `-` start is quoted by SPECIAL.
const PLAIN = /^[A-Za-z0-9_/.+-][A-Za-z0-9_/.@+=-]*$/;
const SPECIAL = /^(true|false|null|yes|no|on|off|y|n|~|[-+]?[\d.].*|-.*)$/i;
// Characters YAML may refuse or read as a line break even in a double-quoted scalar.
// eslint-disable-next-line no-control-regex
const ESCAPE = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A double-quoted YAML scalar. */
export const dq = (s: string) => JSON.stringify(s).replace(ESCAPE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export function yamlString(s: string): string {
  return PLAIN.test(s) && !SPECIAL.test(s) ? s : dq(s);
}

/** A flow sequence of scalars: [a, "b c"]. */
export const flow = (xs: readonly string[]) => `[${xs.map(yamlString).join(', ')}]`;
