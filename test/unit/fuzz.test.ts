// Fuzzed Repfiles never crash rep: they load, or give located messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildDag } from '../../src/graph/dag.js';
import { parseRepfile } from '../../src/repfile/load.js';
import { formatDiagnostic } from '../../src/diag.js';

/** Loads and graphs `text`; returns the messages, or [] when it is a valid Repfile. Throws only on a crash. */
function check(text: string): string[] {
  const r = parseRepfile(text, { file: 'Repfile', contextDir: '/nonexistent' });
  if (!r.ok) return r.errors.map(formatDiagnostic);
  const d = buildDag(r.value);
  return d.ok ? [] : d.errors.map(formatDiagnostic);
}

const located = /^Repfile(:\d+:\d+)?: \S/;
const name = fc.constantFrom('a', 'b', 'c', 'app', 'sytem', 'system', 'A', '1x', '', 'x y');
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    name,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(name, fc.constantFrom('run', 'needs', 'from', 'inputs', 'outputs', 'env', 'phony', 'image', 'steps')), tie('v'), { maxKeys: 3 }),
  ),
})).v;

const step = fc.record(
  {
    run: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), value),
    needs: fc.oneof(fc.array(name, { maxLength: 3 }), value),
    from: fc.oneof(name, fc.constant('busybox:latest'), value),
    inputs: fc.oneof(fc.array(fc.constantFrom('src/', '*.py', '../x', '/etc', ''), { maxLength: 2 }), value),
    outputs: fc.oneof(fc.array(fc.constantFrom('/out', 'out', '/a/b'), { maxLength: 2 }), value),
    phony: fc.oneof(fc.boolean(), value),
    env: fc.oneof(fc.dictionary(fc.constantFrom('A', 'B_1', '1x', 'x-y'), fc.oneof(fc.string(), fc.integer())), value),
  },
  { requiredKeys: [] },
);

const repfile = fc.record(
  {
    rep: fc.oneof(fc.constant(1), value),
    name: fc.oneof(fc.constant('demo'), value),
    base: fc.oneof(fc.constant('debian:bookworm-slim'), value),
    steps: fc.oneof(fc.dictionary(name, step, { maxKeys: 4 }), value),
    image: fc.oneof(fc.record({ from: name, tag: fc.string() }, { requiredKeys: [] }), value),
    extra: value,
  },
  { requiredKeys: [] },
);

describe('fuzzed Repfiles', () => {
  it('structured ones never crash; every problem is located', () => {
    fc.assert(
      fc.property(repfile, (doc) => {
        for (const m of check(stringify(doc))) expect(m).toMatch(located);
      }),
      { numRuns: 1500, seed: 20261125 },
    );
  });

  it('arbitrary text never crashes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        for (const m of check(text)) expect(m).toMatch(located);
      }),
      { numRuns: 1500, seed: 7 },
    );
  });

  it('no string that becomes one Dockerfile line reaches a recipe with a control character in it', () => {
    const text = fc.string({ unit: fc.constantFrom('a', '/', ':', '.', ' ', 'é', '\n', '\r', '\t', '\0', '\x1b', '\x7f', '\u2028'), maxLength: 6 });
    // eslint-disable-next-line no-control-regex
    const control = /[\x00-\x1f\x7f]/;
    // eslint-disable-next-line no-control-regex
    const controlButTab = /[\x00-\x08\x0a-\x1f\x7f]/;
    fc.assert(
      fc.property(fc.array(text, { minLength: 9, maxLength: 9 }), ([workdir, user, base, from, tag, cmd, env, label, shell]) => {
        const doc = {
          rep: 1,
          name: 'demo',
          base: `busybox${base}`,
          workdir: `/${workdir}`,
          env: { A: env },
          steps: { a: { run: 'x', user: `u${user}`, shell: [`/bin/sh${shell}`, '-c'] }, b: { from: `busybox${from}`, run: 'y' } },
          image: { from: 'a', tag: `demo${tag}`, cmd: `run ${cmd}`, labels: { k: label } },
        };
        const r = parseRepfile(stringify(doc), { file: 'Repfile', contextDir: '/nonexistent' });
        if (!r.ok) {
          for (const m of r.errors.map(formatDiagnostic)) expect(m).toMatch(located);
          return;
        }
        const rec = r.value;
        const lines = [rec.base, rec.workdir, rec.image.tag, String(rec.image.cmd), ...rec.steps.flatMap((s) => [s.user ?? '', s.from ?? '', ...(s.shell ?? [])])];
        for (const l of lines) expect(l).not.toMatch(control);
        for (const v of [...Object.values(rec.env), ...Object.values(rec.image.labels)]) expect(v).not.toMatch(controlButTab);
      }),
      { numRuns: 1000, seed: 10 },
    );
  });

  it('mangled valid Repfiles never crash', () => {
    const valid = 'rep: 1\nname: demo\nbase: busybox:latest\nsteps:\n  a:\n    run: [x, y]\n  b:\n    needs: [a]\n    inputs: [src/]\n    outputs: [/out]\nimage:\n  from: b\n  cmd: [sh]\n';
    fc.assert(
      fc.property(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 5 }), (i, j, s) => {
        const [lo, hi] = i < j ? [i, j] : [j, i];
        for (const m of check(valid.slice(0, lo) + s + valid.slice(hi))) expect(m).toMatch(located);
      }),
      { numRuns: 2000, seed: 42 },
    );
  });
});
