// Canonical JSON: one spelling per value, so hashes and files are stable.
import canonicalizeJson from 'canonicalize';
import { createHash } from 'node:crypto';

/** RFC 8785 (JCS) canonical JSON: sorted keys, no whitespace. */
export function canonicalJson(value: unknown): string {
  const s = (canonicalizeJson as unknown as (v: unknown) => string | undefined)(value);
  if (s === undefined) throw new TypeError('value has no JSON form');
  return s;
}

/** Whether a parsed JSON value is a map (an object, not an array or null): the first check on a file rep did not write. */
export const isJsonMap = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export const sha256Of = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex');

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

/** Readable JSON with sorted keys and a trailing newline, for files and --json. */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}
