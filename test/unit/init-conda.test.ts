// environment.yml as hostile text: nesting the yaml package takes seconds and
// hundreds of MB to parse (and a second such parse aborted Node) is refused
// by a cheap scan first, with a note (found by an adversarial review).
import { describe, expect, it } from 'vitest';
import { init } from '../../src/commands/init.js';
import { condaFacts } from '../../src/init/python.js';
import { makeProject } from '../helpers.js';

describe('environment.yml nested deep or large', () => {
  it('refuses 100,000 levels of "- " or "[" or of rising indentation quickly, and a file over 256 KiB', () => {
    expect(condaFacts(`dependencies:\n  ${'- '.repeat(100_000)}x\n`).unread).toBe('nested more than 64 deep');
    expect(condaFacts(`dependencies: ${'['.repeat(100_000)}\n`).unread).toBe('nested more than 64 deep');
    expect(condaFacts(`dependencies: ${'{a: '.repeat(50_000)}\n`).unread).toBe('nested more than 64 deep');
    expect(condaFacts(Array.from({ length: 100 }, (_, k) => `${' '.repeat(k)}a${k}:`).join('\n')).unread).toBe('nested more than 64 deep');
    expect(condaFacts(`dependencies:\n${'  - numpy\n'.repeat(30_000)}`).unread).toBe('larger than 256 KiB');
    expect(condaFacts('name: x\ndependencies:\n  - python=3.11\n  - pip:\n    - [a, {b: [c]}]\n')).toEqual({ python: '3.11', hasPython: true, usesR: false, localPip: false });
    // Lines of indicators alone, each further in: about 3,600 levels, counted as 62 before (found by a review).
    const stairs = Array.from({ length: 60 }, (_, j) => `${' '.repeat(120 * j)}${'- '.repeat(60).trimEnd()}${j === 59 ? ' x' : ''}`).join('\n');
    expect(condaFacts(`dependencies:\n${stairs}\n`).unread).toBe('nested more than 64 deep');
  });

  it('says so in a note, and rep init still writes the Repfile', () => {
    const dir = makeProject({ 'environment.yml': `${'['.repeat(100_000)}\n` }, 'myrepo-');
    const r = init(dir, { now: new Date('2026-11-27T12:00:00Z') });
    expect(r.ok && r.value.notes).toContain('environment.yml: nested more than 64 deep; rep init did not read it (the Repfile installs it, but assumes python and no R: check it)');
  });
});

describe('environment.yml with many keys', () => {
  it('reads 100,000 keys (256 KiB) in one pass and still refuses a key twice, as ruamel.yaml does (the yaml package compared each key with every other: 127 s)', () => {
    // One-letter keys (CJK, Hangul, Yi), then two-letter ones: the most keys 256 KiB of a flow map holds.
    const keys: string[] = [];
    for (const [a, b] of [[0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x3400, 0x4dbf], [0xa000, 0xa48c]] as const) for (let c = a; c <= b; c++) keys.push(String.fromCharCode(c));
    for (let k = 0; keys.length < 100_000; k++) keys.push(String.fromCharCode(0x4e00 + (k >> 8), 0x4e00 + (k & 255)));
    const map = `{${keys.join(',')}`;
    expect(map.length).toBeGreaterThan(250_000);
    expect(condaFacts(`${map}}\n`)).toEqual({ hasPython: false, usesR: false, localPip: false });
    expect(condaFacts(`${map},${keys[7]}}\n`).error).toBe(`not YAML (Map keys must be unique at line 1, column ${map.length + 2})`);
    // Keys compare as the library compared them: by typed value, so 1 and 1.0 are one key, 1 and '1' two.
    expect(condaFacts('x: {1: a, 1.0: b}\n').error).toBe('not YAML (Map keys must be unique at line 1, column 11)');
    expect(condaFacts("x: {1: a, '1': b}\ndependencies:\n  - pip: [x]\n")).toEqual({ hasPython: true, usesR: false, localPip: false });
    expect(condaFacts('a: [\n').error).toBe('not YAML (Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1)');
  });
});
