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

/** Nesting past which JSON from elsewhere (a bundle, an image, a .rep/ a clone brought) is refused before it is parsed. */
export const FOREIGN_JSON_DEPTH = 64;

/**
 * JSON.parse of `text`, refused (a JsonDepthError, a SyntaxError as JSON.parse throws) when it nests lists and maps
 * deeper than `maxDepth`. The depth is scanned first, character by character: JSON.parse builds
 * every level before anything could refuse it, and 256 MiB of brackets, which a file rep reads
 * may hold, ran V8 out of heap inside it (an abort, not an error to catch).
 */
export class JsonDepthError extends SyntaxError {
  constructor(readonly maxDepth: number) {
    super(`JSON nested more than ${maxDepth} levels deep`);
  }
}

export function shallowJson(text: string, maxDepth = FOREIGN_JSON_DEPTH): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new JsonDepthError(maxDepth);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return JSON.parse(text);
}

/** Characters canonicalPieces gathers before it hands them over. */
const CANONICAL_PIECE = 1 << 16;

/** Whether `keys` are in the order sort() gives them (by UTF-16 code units): most objects rep keys are written so already. */
const sorted = (keys: readonly string[]): boolean => {
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return false;
  return true;
};

/**
 * canonicalJson's text, handed to `put` a piece at a time: the same
 * characters, joined (the same rules as the canonicalize package, its quirks
 * included), never built whole. A key hashes a step's material, which lists
 * every input file: written whole, that is one string the size of the
 * listing, and the package's concatenation makes many more on the way.
 */
export function canonicalPieces(value: unknown, put: (text: string) => void): void {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') throw new TypeError('value has no JSON form');
  let held = '';
  const emit = (text: string) => {
    held += text;
    if (held.length >= CANONICAL_PIECE) {
      put(held);
      held = '';
    }
  };
  const walk = (v: unknown): void => {
    if (typeof v === 'number' && isNaN(v)) throw new Error('NaN is not allowed');
    if (typeof v === 'number' && !isFinite(v)) throw new Error('Infinity is not allowed');
    if (v === null || typeof v !== 'object') {
      emit(`${JSON.stringify(v)}`);
      return;
    }
    const withJson = v as { toJSON?: unknown };
    if (withJson.toJSON instanceof Function) {
      walk((withJson.toJSON as () => unknown).call(v));
      return;
    }
    if (Array.isArray(v)) {
      emit('[');
      // As the package's reduce: holes are passed over, and only index 0 goes without a comma.
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) continue;
        if (i > 0) emit(',');
        const x: unknown = v[i];
        walk(x === undefined || typeof x === 'symbol' ? null : x);
      }
      emit(']');
      return;
    }
    // Members whose values are text are gathered into one piece with what comes before them: a key's
    // material lists every input as an object of three texts (100k at times).
    let text = '{';
    let first = true;
    const keys = Object.keys(v);
    if (!sorted(keys)) keys.sort();
    for (const k of keys) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || typeof x === 'symbol') continue;
      text += `${first ? '' : ','}${JSON.stringify(k)}:`;
      first = false;
      if (typeof x === 'string') {
        text += JSON.stringify(x);
        continue;
      }
      emit(text);
      text = '';
      walk(x);
    }
    emit(`${text}}`);
  };
  walk(value);
  if (held) put(held);
}

/** The sha256 (hex) of canonicalJson(value), hashed a piece at a time. */
export function sha256Of(value: unknown): string {
  const h = createHash('sha256');
  canonicalPieces(value, (text) => h.update(text));
  return h.digest('hex');
}

/**
 * `v` with every object's keys in sorted order, for JSON.stringify: a plain
 * object whose keys are sorted already (and whose values need no change) is
 * kept as it is, any other is copied. Keeping them spares the copies of a
 * statement's every input (100k at times) and the collections that follow.
 * A copy has no prototype when it holds a key named "__proto__" (a file of
 * that name, say), so that the key stays a key rather than setting the
 * prototype and vanishing from the JSON.
 */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      const y = sortKeys(x);
      if (y !== x && copy === undefined) copy = v.slice(0, i);
      copy?.push(y);
    }
    return copy ?? v;
  }
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  const proto: unknown = Object.getPrototypeOf(o);
  // The values as they go in the copy; undefined while `o` can be kept (made on the first reason not to).
  let values: unknown[] | undefined = proto === Object.prototype || proto === null ? undefined : [];
  for (let i = 0; i < keys.length; i++) {
    const x = o[keys[i]!];
    const y = sortKeys(x);
    if (values === undefined && (y !== x || (i > 0 && keys[i - 1]! > keys[i]!))) {
      values = [];
      for (let j = 0; j < i; j++) values.push(o[keys[j]!]);
    }
    values?.push(y);
  }
  if (values === undefined) return o;
  const order = keys.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  const out = (keys.includes('__proto__') ? Object.create(null) : {}) as Record<string, unknown>;
  for (const i of order) if (values[i] !== undefined) out[keys[i]!] = values[i];
  return out;
}

/** Readable JSON with sorted keys and a trailing newline, for files and --json. */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

/** Values (counted as nodes) that one JSON.stringify writes at a time in prettyJsonPieces. */
const PIECE_NODES = 4096;

let budget = 0;
function spend(x: unknown): void {
  if (--budget < 0 || x === null || typeof x !== 'object') return;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length && budget >= 0; i++) spend(x[i]);
    return;
  }
  for (const k in x) {
    if (budget < 0) return;
    spend((x as Record<string, unknown>)[k]);
  }
}

/** How many values `v` holds, itself included, counted up to `limit` (past it: `limit`). */
function nodes(v: unknown, limit: number): number {
  budget = limit;
  spend(v);
  return limit - Math.max(budget, 0);
}

/**
 * JSON.stringify's text of `v` (keys sorted) as it reads `depth` levels
 * down in prettyJson's text: nested in that many arrays and cut out of them,
 * which indents it as a pass over the text would, without one.
 */
function textAt(v: unknown, depth: number): string {
  let w = sortKeys(v);
  for (let i = 0; i < depth; i++) w = [w];
  // String(): a value without a JSON form (undefined at the top) reads "undefined", as in prettyJson.
  const s = String(JSON.stringify(w, null, 2));
  // Level i opens with "[\n" and 2i spaces, and closes with "\n", 2(i-1) spaces and "]".
  return s.slice(depth * 2 + depth * (depth + 1), s.length - (depth * 2 + depth * (depth - 1)));
}

/** Whether `k` is an array index ("0" to "4294967294" without leading zeros): objects list those first, by number. */
const isIndex = (k: string) => /^(?:0|[1-9]\d{0,9})$/.test(k) && Number(k) < 4294967295;

/**
 * prettyJson's text, handed to `put` a piece at a time: a value with many
 * members (the state's or the provenance's list of every input) is written a
 * few thousand values at a time, never held as one string or copied whole.
 */
export function prettyJsonPieces(value: unknown, put: (text: string) => void): void {
  const walk = (v: unknown, depth: number): void => {
    // An object with a toJSON of its own is what that says (sortKeys keeps it, JSON.stringify calls it): one value.
    const own = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, 'toJSON') && typeof (v as { toJSON: unknown }).toJSON === 'function';
    if (v === null || typeof v !== 'object' || own || nodes(v, PIECE_NODES + 1) <= PIECE_NODES) {
      put(textAt(v, depth));
      return;
    }
    const list = Array.isArray(v);
    const obj = v as Record<string, unknown>;
    // As JSON.stringify does: members without a JSON form are left out of an object (null in an array).
    // In the order of sortKeys' copy: keys that are array indices first, by number (as every object
    // orders them), then the others sorted.
    let keys = list ? [] : Object.keys(obj).sort().filter((k) => !['undefined', 'function', 'symbol'].includes(typeof obj[k]));
    const indices = keys.filter(isIndex).sort((a, b) => Number(a) - Number(b));
    if (indices.length) keys = [...indices, ...keys.filter((k) => !isIndex(k))];
    const count = list ? v.length : keys.length;
    if (count === 0) {
      put(list ? '[]' : '{}');
      return;
    }
    let first = true;
    const next = () => {
      const sep = first ? '\n' : ',\n';
      first = false;
      return sep;
    };
    // A run of light members, written as one array (or object) of them without its brackets.
    let items: unknown[] = [];
    let members = Object.create(null) as Record<string, unknown>;
    let weight = 0;
    const flush = () => {
      if (weight === 0) return;
      const t = textAt(list ? items : members, depth);
      put(next() + t.slice(2, t.length - 2 - 2 * depth));
      items = [];
      members = Object.create(null) as Record<string, unknown>;
      weight = 0;
    };
    put(list ? '[' : '{');
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      const x = list ? v[i] : obj[key];
      const n = nodes(x, PIECE_NODES + 1);
      if (n > PIECE_NODES) {
        flush();
        put(`${next()}${'  '.repeat(depth + 1)}${list ? '' : `${JSON.stringify(key)}: `}`);
        walk(x, depth + 1);
        continue;
      }
      if (list) items.push(x);
      else members[key] = x;
      weight += n;
      if (weight >= PIECE_NODES) flush();
    }
    flush();
    put(`\n${'  '.repeat(depth)}${list ? ']' : '}'}`);
  };
  walk(value, 0);
  put('\n');
}
