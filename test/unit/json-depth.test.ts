// JSON from elsewhere (a .rep/ a clone brought, a stranger's bundle, an image) is refused when it
// nests deeper than anything rep or an engine writes, before JSON.parse builds it: 256 MiB of
// brackets, within what rep reads of such a file, ran V8 out of heap (an abort, not an error).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FOREIGN_JSON_DEPTH, shallowJson } from '../../src/canonical.js';
import { StatCache } from '../../src/context/hash.js';
import { parseStatement } from '../../src/publish/statement.js';
import { readJsonFile } from '../../src/state/files.js';
import { makeProject } from '../helpers.js';

const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

describe('JSON from elsewhere', () => {
  it('is parsed up to FOREIGN_JSON_DEPTH levels, brackets in strings not counted, and refused past it before it is built', () => {
    expect(shallowJson(nested(FOREIGN_JSON_DEPTH))).toHaveLength(1);
    expect(() => shallowJson(nested(FOREIGN_JSON_DEPTH + 1))).toThrow(`JSON nested more than ${FOREIGN_JSON_DEPTH} levels deep`);
    expect(shallowJson(JSON.stringify({ a: `${'['.repeat(1000)}"\\`, b: [1] }))).toEqual({ a: `${'['.repeat(1000)}"\\`, b: [1] });
    expect(() => shallowJson('[1')).toThrow(SyntaxError);
  });

  it('is refused where rep reads it: a .rep/ file, the stat cache, a bundle\'s statement (found by a review)', () => {
    const dir = makeProject({ 'a.txt': 'a' });
    mkdirSync(path.join(dir, '.rep'), { recursive: true });
    const deep = nested(1_000_000);
    writeFileSync(path.join(dir, '.rep', 'x.json'), deep);
    expect(readJsonFile(path.join(dir, '.rep', 'x.json'))).toBeUndefined();
    writeFileSync(path.join(dir, '.rep', 'statcache.json'), `{"version":2,"rows":${deep}}`);
    expect(() => StatCache.forContext(dir)).not.toThrow();
    expect(parseStatement(Buffer.from(`{"_type":${deep}}`))).toBeUndefined();
  });
});
