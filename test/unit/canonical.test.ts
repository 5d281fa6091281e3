import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson, canonicalPieces, prettyJson, prettyJsonPieces, sha256Of } from '../../src/canonical.js';

const pieces = (v: unknown) => {
  const out: string[] = [];
  prettyJsonPieces(v, (t) => out.push(t));
  return out;
};

/** A deterministic generator of JSON-ish values of every shape, some of them large. */
function* shapes(): Generator<unknown> {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const leaf = (): unknown => [null, true, false, 0, -1.5, 1e21, 'a', 'é\n"\\', '', undefined][rand(10)];
  const value = (depth: number): unknown => {
    const k = depth > 3 ? 0 : rand(4);
    if (k === 0) return leaf();
    if (k === 1) return Array.from({ length: rand(6) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rand(6); i > 0; i--) o[`k${rand(9)}`] = value(depth + 1);
    return o;
  };
  for (let i = 0; i < 200; i++) yield value(0);
  // Large members at several depths: an array, a map, both inside small containers.
  const files = Array.from({ length: 12_000 }, (_, i) => ({ uri: `file:d${i % 7}/f${i}.txt`, digest: { sha256: i.toString(16).padStart(64, '0') }, note: i % 5 ? undefined : 'x' }));
  const inputs = Object.fromEntries(files.map((f, i) => [`d${i % 7}/f${i}.txt`, { sha256: f.digest.sha256, mode: '644', type: 'file' }]));
  yield files;
  yield inputs;
  yield { version: 1, steps: { b: { key: 'k', material: { inputs, def: { run: 'x' } } }, a: { key: 'j', material: { inputs: {}, def: {} } } } };
  yield [[files], { deep: [{ files, empty: [], none: {} }] }, 3];
  yield { predicate: { resolvedDependencies: [...files, { big: files }], byproducts: [] }, _type: 't' };
  // Members without a JSON form, and a key that is not the prototype.
  yield { list: [...files.slice(0, 5000), undefined, () => 1, ...files.slice(0, 5000)], f: () => 1, u: undefined };
  yield JSON.parse(`{"__proto__": {"x": 1}, "a": ${JSON.stringify(files)}}`);
  // Keys that are array indices (files named 0, 1, ... 2999): every object lists those first, by number.
  const indexed: [string, unknown][] = Array.from({ length: 3000 }, (_, i) => [String(i), { sha256: 'a'.repeat(64), mode: '644' }]);
  yield { inputs: Object.fromEntries([...indexed, ['4294967295', { x: 1 }], ['01', { x: 2 }], ['b', { x: 3 }]]) };
  // A large object whose members all lack a JSON form, and objects with a toJSON of their own.
  yield { none: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, undefined])), also: Array.from({ length: 5000 }, () => undefined) };
  yield { big: { toJSON: () => ({ small: true }), ...Object.fromEntries(files.map((f, i) => [`k${i}`, f])) }, list: files.map((f) => ({ ...f, toJSON: () => 'x' })), when: new Date(0) };
  yield Object.fromEntries([['__proto__', files], ['b', 1]]);
  // Text members among others, in and out of order: symbols, a String object, a lone surrogate, text that needs escapes.
  yield { z: 'last', s: Symbol('s'), t: new String('t'), u: '\ud800', a: 'first', m: [Symbol('m'), 'x'], o: { y: 'x\u0000"', x: 1, w: 'w' }, e: '' };
  yield Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`p${i % 2 ? i : 3000 - i}`, i % 3 ? { type: 'file', mode: '644', sha256: 'b'.repeat(64) } : { mode: '755', sha256: 'c'.repeat(64), type: 'symlink' }]));
}

/** Every object copied with its keys sorted (what prettyJson wrote before it kept sorted objects as they are): the oracle. */
function copiedSorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copiedSorted);
  if (v === null || typeof v !== 'object') return v;
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(v).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = copiedSorted(x);
  }
  return out;
}

/** Values whose keys are partly sorted already, and objects that are not plain. */
function* keptOrCopied(): Generator<unknown> {
  class Point {
    constructor(readonly y: number, readonly x: number) {}
  }
  const sparse: unknown[] = [];
  sparse[2] = { b: 1, a: 2 };
  yield { a: 1, b: { d: 1, c: 2 }, c: [{ a: 1 }, { z: 1, y: 2 }] };
  yield { a: { b: { c: { e: 1, d: 2 } } }, b: undefined, c: 3 };
  yield [{ a: 1 }, { a: 1, b: undefined }, sparse, [, 1]];
  yield { when: new Date(0), at: new Point(1, 2), map: new Map([['a', 1]]), set: new Set([1]) };
  yield { sorted: { a: new Date(0), b: { toJSON: () => 'own' } } };
  yield { 1: 'a', 10: 'b', 9: 'c', a: { 2: 1, 1: 2 } };
  yield Object.assign(Object.create(null) as object, { b: 1, a: { d: 1, c: 1 } });
  yield JSON.parse('{"__proto__": {"b": 1, "a": 2}, "a": 1}');
}

describe('prettyJson', () => {
  it('writes the text of a copy with every key sorted, whether it keeps an object or copies it', () => {
    for (const v of [...shapes(), ...keptOrCopied()]) {
      const before = JSON.stringify(v);
      expect(prettyJson(v)).toBe(`${JSON.stringify(copiedSorted(v), null, 2)}\n`);
      expect(pieces(v).join('')).toBe(prettyJson(v));
      // Nothing it is given changes.
      expect(JSON.stringify(v)).toBe(before);
    }
  });
});

describe('prettyJsonPieces', () => {
  it('writes the very text prettyJson does, for values of every shape', () => {
    for (const v of shapes()) expect(pieces(v).join('')).toBe(prettyJson(v));
  });

  it('writes a large value a few thousand values at a time, never as one string', () => {
    const big = { inputs: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`f${i}`, { sha256: 'a'.repeat(64) }])) };
    const out = pieces(big);
    const text = out.join('');
    expect(text).toBe(prettyJson(big));
    expect(out.length).toBeGreaterThan(20);
    expect(Math.max(...out.map((p) => p.length))).toBeLessThan(text.length / 20);
  });

  it('keeps a key named "__proto__" (a file of that name) as a key, in pretty and canonical JSON alike', () => {
    const v = Object.fromEntries([['__proto__', { sha256: 'x' }], ['a', 1]]);
    expect(JSON.parse(prettyJson(v))).toEqual(JSON.parse('{"__proto__":{"sha256":"x"},"a":1}'));
    expect(Object.keys(JSON.parse(pieces(v).join('')))).toEqual(['__proto__', 'a']);
    expect(canonicalJson(v)).toBe('{"__proto__":{"sha256":"x"},"a":1}');
  });
});

describe('canonicalPieces', () => {
  const canonical = (v: unknown) => {
    const out: string[] = [];
    canonicalPieces(v, (t) => out.push(t));
    return out;
  };
  const sparse: unknown[] = [];
  sparse[1] = 'b';
  sparse[3] = [, 2];

  it('hands over the very text canonicalJson (the canonicalize package) writes, for values of every shape', () => {
    for (const v of [...shapes(), sparse, [1, , 3], 'x', 0, null, { n: -0, e: 1e-7, big: 2 ** 60 }]) {
      expect(canonical(v).join('')).toBe(canonicalJson(v));
      expect(sha256Of(v)).toBe(createHash('sha256').update(canonicalJson(v)).digest('hex'));
    }
  });

  it('refuses what canonicalJson refuses', () => {
    for (const v of [undefined, () => 1, NaN, Infinity, { a: [NaN] }, { a: -Infinity }]) {
      expect(() => canonicalJson(v)).toThrow();
      expect(() => canonical(v)).toThrow();
    }
  });

  it('hands a large value over a piece at a time, never as one string', () => {
    const big = { inputs: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`f${i}`, { mode: '644', sha256: 'a'.repeat(64), type: 'file' }])) };
    const out = canonical(big);
    const text = out.join('');
    expect(text).toBe(canonicalJson(big));
    expect(out.length).toBeGreaterThan(20);
    expect(Math.max(...out.map((p) => p.length))).toBeLessThan(text.length / 20);
  });
});
