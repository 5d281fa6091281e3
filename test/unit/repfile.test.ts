import { describe, expect, it } from 'vitest';
import { makeProject, openErrors, open } from '../helpers.js';
import { parseRepfile } from '../../src/repfile/load.js';
import { formatDiagnostic, renderDiagnostic } from '../../src/diag.js';
import { repfileJsonSchema } from '../../src/repfile/schema.js';
import { buildDag } from '../../src/graph/dag.js';
import { stableOrder } from '../../src/graph/order.js';
import fc from 'fast-check';
import { distance } from 'fastest-levenshtein';
import { closest, Suggester } from '../../src/repfile/suggest.js';
import Ajv2020 from 'ajv/dist/2020.js';

const errorsOf = (text: string) => {
  const r = parseRepfile(text, { file: 'Repfile' });
  if (r.ok) throw new Error('expected errors');
  return r.errors.map(formatDiagnostic);
};

const ok = (text: string) => {
  const r = parseRepfile(text, { file: 'Repfile' });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.value;
};

const HEAD = 'rep: 1\nname: demo\nbase: debian:bookworm-slim\n';

describe('Repfile parsing', () => {
  it('reads every field into a typed recipe', () => {
    const r = ok(
      HEAD +
        'workdir: /srv\nenv: {B: 2, A: "x"}\nsteps:\n  one:\n    run: make\n    inputs: src/\n    env: {DEBUG: true}\n    user: nobody\n    shell: [/bin/bash, -c]\n' +
        '  two:\n    needs: one\n    phony: true\n    outputs: [/out]\nimage:\n  tag: demo:1\n  cmd: [run]\n  expose: [8080, "53/udp"]\n',
    );
    expect(r.workdir).toBe('/srv');
    expect(r.env).toEqual({ A: 'x', B: '2' });
    expect(Object.keys(r.env)).toEqual(['A', 'B']);
    expect(r.steps.map((s) => s.name)).toEqual(['one', 'two']);
    expect(r.steps[0]).toMatchObject({ run: ['make'], inputs: ['src/'], env: { DEBUG: 'true' }, user: 'nobody', shell: ['/bin/bash', '-c'] });
    expect(r.steps[1]).toMatchObject({ needs: ['one'], phony: true, outputs: ['/out'] });
    expect(r.image).toMatchObject({ tag: 'demo:1', cmd: ['run'], expose: ['8080', '53/udp'] });
  });

  it('keeps environment values YAML reads as numbers or booleans as they are written', () => {
    // YAML's numbers lose what a version means: 3.10 was the number 3.1, 0x10 was 16, 010 was 10.
    const r = ok(HEAD + 'env: {PY: 3.10, HEX: 0x10, ZIP: 010, BIG: 1e400, YES: True, Q: "3.10", N: 2}\nsteps:\n  a:\n    run: x\n    env: {V: 1.0, A: &v 2.50}\n  b:\n    run: y\n    env: {W: *v}\n');
    expect(r.env).toEqual({ BIG: '1e400', HEX: '0x10', N: '2', PY: '3.10', Q: '3.10', YES: 'True', ZIP: '010' });
    expect(r.steps[0]!.env).toEqual({ A: '2.50', V: '1.0' });
    expect(r.steps[1]!.env).toEqual({ W: '2.50' });
  });

  it('defaults workdir to /work and the tag to NAME:latest', () => {
    const r = ok(HEAD + 'steps:\n  a:\n    run: x\n');
    expect(r.workdir).toBe('/work');
    expect(r.image.tag).toBe('demo:latest');
  });

  it('names line, column and field of an unknown field, with a suggestion', () => {
    expect(errorsOf(HEAD + 'steps:\n  app:\n    nedds: [x]\n')).toEqual([
      'Repfile:6:5: steps.app.nedds: unknown field "nedds" (did you mean "needs"?)',
    ]);
    expect(errorsOf(HEAD + 'stesp: {}\n')).toEqual([
      'Repfile:1:1: steps: missing required field "steps"',
      'Repfile:4:1: stesp: unknown field "stesp" (did you mean "steps"?)',
    ]);
  });

  it('reports missing and mistyped fields where they are', () => {
    expect(errorsOf('rep: 1\nname: demo\nsteps:\n  a: {run: x}\n')).toEqual(['Repfile:1:1: base: missing required field "base"']);
    expect(errorsOf(HEAD + 'steps:\n  a:\n    run: 3\n')).toEqual([
      'Repfile:6:10: steps.a.run: expected a shell command or a list of them',
    ]);
    expect(errorsOf(HEAD + 'steps:\n  a:\n    phony: yes please\n')).toEqual([
      'Repfile:6:12: steps.a.phony: expected boolean, got the string "yes please"',
    ]);
    expect(errorsOf('rep: 2\nname: demo\nbase: x\nsteps: {a: {}}\n')).toEqual([
      'Repfile:1:6: rep: the Repfile format version; write `rep: 1`',
    ]);
    expect(errorsOf(HEAD + 'steps:\n  a:\n    outputs: [out/x]\n')).toEqual([
      'Repfile:6:15: steps.a.outputs[0]: an output is an absolute path inside the image (starts with "/")',
    ]);
    expect(errorsOf(HEAD + 'steps: {}\n')).toEqual(['Repfile:4:8: steps: a Repfile has at least one step']);
  });

  it('rejects step names that cannot name a stage', () => {
    expect(errorsOf(HEAD + 'steps:\n  Build App:\n    run: x\n')).toEqual([
      'Repfile:5:3: steps.Build App: step name "Build App" must be lowercase letters, digits, "-", "_" or "." and start with a letter',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their place', () => {
    expect(errorsOf(HEAD + 'steps:\n  a:\n    run: [x\n')[0]).toMatch(/^Repfile:7:1: YAML: Flow sequence/);
    expect(errorsOf(HEAD + 'base: other\nsteps: {a: {}}\n')).toEqual(['Repfile:4:1: YAML: Map keys must be unique']);
    expect(errorsOf(HEAD + 'steps:\n  a:\n    run: x\n    env: {A: 1, B: 2, A: 3}\n  a:\n    run: y\n')).toEqual(['Repfile:7:23: YAML: Map keys must be unique', 'Repfile:8:3: YAML: Map keys must be unique']);
    expect(errorsOf('- a\n- b\n')).toEqual(['Repfile:1:1: expected a mapping with at least `rep: 1`, `name`, `base` and `steps`']);
  });

  it('reports keys that differ only in YAML type as duplicates: they become one string key', () => {
    expect(errorsOf(HEAD + 'env: {"true": one, true: two}\nsteps: {a: {run: x}}\n')).toEqual(['Repfile:4:20: YAML: Map keys must be unique']);
    expect(errorsOf(HEAD + "image: {labels: {1: one, '1': uno}}\nsteps: {a: {run: x}}\n")).toEqual(['Repfile:4:26: YAML: Map keys must be unique']);
    expect(errorsOf(HEAD + 'steps:\n  a:\n    run: x\n    env: {1.0: a, 1: b}\n')).toEqual(['Repfile:7:19: YAML: Map keys must be unique']);
  });

  it('checks the port range of an exposed port written as a string, as of one written as a number', () => {
    const port = 'a port is a number from 1 to 65535, alone or with /tcp, /udp or /sctp (e.g. 8080 or "53/udp")';
    expect(errorsOf(HEAD + "image: {expose: ['99999/tcp', '0', '00080', 65536, '65535/sctp']}\nsteps: {a: {run: x}}\n")).toEqual([
      `Repfile:4:18: image.expose[0]: ${port}`,
      `Repfile:4:31: image.expose[1]: ${port}`,
      `Repfile:4:45: image.expose[3]: ${port}`,
    ]);
    expect(ok(HEAD + "image: {expose: ['1/udp', 65535, '00080']}\nsteps: {a: {run: x}}\n").image.expose).toEqual(['1/udp', '65535', '00080']);
  });

  it('reports unresolved aliases and alias bombs where they are, without crashing', () => {
    expect(errorsOf('rep: 1\nname: *x\n')).toEqual(['Repfile:2:7: YAML: Unresolved alias (the anchor must be set before the alias): x']);
    const bomb = 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    expect(errorsOf(bomb)).toEqual(['Repfile:2:8: YAML: Excessive alias count indicates a resource exhaustion attack']);
    // Few aliases of much text: 99 of 50 KB would be a 5 MB Dockerfile from a 50 KB Repfile (400 MB from 4 MiB).
    const wide = (n: number) => `${HEAD}steps:\n  a:\n    description: &d ${'x'.repeat(n)}\n    run: [${Array(99).fill('*d').join(', ')}]\n`;
    expect(errorsOf(wide(50_000))).toEqual([expect.stringMatching(/^Repfile:7:\d+: YAML: aliases repeat more than 4 MiB of the Repfile's text$/)]);
    expect(parseRepfile(wide(40_000), { file: 'Repfile' }).ok).toBe(true);
  });

  it('underlines the offending text', () => {
    const text = HEAD + 'steps:\n  app:\n    nedds: [x]\n';
    const r = parseRepfile(text, { file: 'Repfile' });
    if (r.ok) throw new Error('expected errors');
    expect(renderDiagnostic(r.errors[0]!, text)).toBe(
      'Repfile:6:5: steps.app.nedds: unknown field "nedds" (did you mean "needs"?)\n 6 |     nedds: [x]\n   |     ^^^^^',
    );
  });

  it('shows a long line around the offending text only: a one-line Repfile of megabytes printed all of it (a review)', () => {
    const long = `rep: 1\nname: t\nbase: ${'a'.repeat(3 << 20)}!\nsteps: {a: {run: x}}\n`;
    const r = parseRepfile(long, { file: 'Repfile' });
    if (r.ok) throw new Error('expected errors');
    const shown = renderDiagnostic(r.errors[0]!, long);
    expect(shown.length).toBeLessThan(1200);
    const [, line, marks] = shown.split('\n');
    expect(line).toBe(` 3 | base: ${'a'.repeat(154)}…`);
    expect(marks).toBe(`   |       ${'^'.repeat(154)}`);
    // Far along a flow map: a window from a little before the place, marked where it is.
    const flow = `rep: 1\nname: t\nbase: busybox\nsteps: {${Array.from({ length: 400 }, (_, i) => `s${i}: {run: x}`).join(', ')}, z: {nedds: [x], run: x}}\n`;
    const f = parseRepfile(flow, { file: 'Repfile' });
    if (f.ok) throw new Error('expected errors');
    const [, fline, fmarks] = renderDiagnostic(f.errors[0]!, flow).split('\n');
    expect(fline!.startsWith(' 4 | …')).toBe(true);
    expect(fline!.endsWith('}}')).toBe(true);
    expect(fline!.slice(fmarks!.indexOf('^'), fmarks!.lastIndexOf('^') + 1)).toBe('nedds');
  });

  it('quotes a long image reference or step name clipped in its message (a review)', () => {
    const huge = 'f'.repeat(1 << 20);
    for (const text of [
      `rep: 1\nname: t\nbase: rep-cache@sha256:${huge}\nsteps: {a: {run: x}}\n`,
      `rep: 1\nname: t\nbase: ${'a'.repeat(64)}\nsteps: {a: {run: x}}\nimage: {tag: "${'b'.repeat(1 << 20)}"}\n`,
      `rep: 1\nname: t\nbase: busybox:1\nsteps: {a: {run: x}, b: {from: "${'a'.repeat(1 << 20)}", run: x}}\n`,
      `rep: 1\nname: t\nbase: busybox:${'c'.repeat(100)}\nsteps: {a: {run: x}}\nimage: {tag: "docker.io/library/busybox:${'c'.repeat(100)}"}\n`,
    ]) {
      const r = parseRepfile(text, { file: 'Repfile' });
      const said = r.ok ? openErrors(makeProject({ Repfile: text })) : r.errors.map(formatDiagnostic);
      expect(said.length, text.slice(0, 60)).toBeGreaterThan(0);
      for (const m of said) expect(m.length, m.slice(0, 200)).toBeLessThan(2000);
    }
  });

  it('publishes a JSON Schema generated from the same schema', () => {
    const s = repfileJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(s.properties)).toEqual(['rep', 'name', 'base', 'workdir', 'env', 'steps', 'image', 'secrets', 'publish', 'reproducible']);
    expect(s.required).toEqual(['rep', 'name', 'base', 'steps']);
  });
});

describe('Repfile references and graph', () => {
  const project = (steps: string, extra = '') => makeProject({ Repfile: HEAD + 'steps:\n' + steps + extra, 'a.txt': 'a' });

  it('suggests the step meant by a misspelt need', () => {
    const dir = project('  system:\n    run: x\n  app:\n    needs: [sytem]\n');
    expect(openErrors(dir)).toEqual(['Repfile:8:13: steps.app.needs: unknown step "sytem" (did you mean "system"?)']);
  });

  it('suggests as it did when it sorted every candidate for each word: the nearest, of equals the first in code-point order', () => {
    const sorted = (word: string, names: string[]) => {
      const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3) + 1));
      const [d, best] = [...names].sort().reduce<[number, string | undefined]>((b, c) => { const d = distance(word.toLowerCase(), c.toLowerCase()); return d < b[0] ? [d, c] : b; }, [Infinity, undefined]);
      return d <= limit ? best : undefined;
    };
    expect(closest('ab', ['ac', 'aa', 'ab-'])).toBe('aa');
    fc.assert(fc.property(fc.string({ maxLength: 8 }), fc.array(fc.string({ maxLength: 8 }), { maxLength: 20 }), (w, names) => closest(w, names) === sorted(w, names)), { numRuns: 2000 });
  });

  it('suggests within a budget of names measured, a word asked again answered from memory (a Repfile of many unknown names was quadratic)', () => {
    const s = new Suggester(['system', 'app', 'data'], 7);
    expect(s.didYouMean('sytem')).toBe(' (did you mean "system"?)');
    expect(s.closest('dat')).toBe('data');
    // Only names within reach of a word's length are measured and charged (3, 2, then 1 of 7): a word asked before is
    // still answered; a new one past the budget is not measured (null), which is not "no name is near".
    expect(s.closest('ap')).toBe('app');
    expect([s.closest('sytem'), s.closest('dta')]).toEqual(['system', null]);
    // A build of 20,000 steps each needing an unknown step: every error is said, suggestions only while the budget lasts.
    const steps = Array.from({ length: 20_000 }, (_, i) => `  s${i}:\n    needs: [q${i}]\n    run: x\n`).join('');
    const r = parseRepfile(`${HEAD}steps:\n${steps}`, { file: 'Repfile' });
    if (!r.ok) throw new Error('parse');
    const dag = buildDag(r.value);
    const errors = dag.ok ? [] : dag.errors.map(formatDiagnostic);
    expect(errors).toHaveLength(20_000);
    expect(errors.filter((e) => e.includes('did you mean')).length).toBeLessThan(1_000);
    // Past the budget, a misspelt step in from is still an error, never an image to pull.
    const froms = Array.from({ length: 3_000 }, (_, i) => `  s${i}:\n    from: qqqqqqqqqq${i}\n    run: x\n`).join('');
    const typo = parseRepfile(`${HEAD}steps:\n  system:\n    run: x\n${froms}  app:\n    from: sytem\n    run: y\n`, { file: 'Repfile' });
    if (!typo.ok) throw new Error('parse');
    const said = buildDag(typo.value);
    expect(said.ok ? [] : said.errors.map(formatDiagnostic).filter((e) => e.includes('steps.app.from'))).toEqual([expect.stringContaining('"sytem" is not a step')]);
  });

  it('names every step of a cycle, in order', () => {
    const dir = project('  a:\n    needs: [c]\n  b:\n    needs: [a]\n  c:\n    needs: [b]\n');
    expect(openErrors(dir)).toEqual(['Repfile:6:13: steps.a.needs: dependency cycle: a -> c -> b -> a']);
    const self = project('  a:\n    needs: [a]\n');
    expect(openErrors(self)).toEqual(['Repfile:6:13: steps.a.needs: dependency cycle: a -> a']);
    const viaFrom = project('  a:\n    from: b\n  b:\n    needs: [a]\n');
    expect(openErrors(viaFrom)).toEqual(['Repfile:6:11: steps.a.from: dependency cycle: a -> b -> a']);
  });

  it('orders a chain of 15,000 steps written top step first, and reports a cycle through all of them, without overflowing the call stack', () => {
    const n = 15000;
    const chain = (last: string) => Array.from({ length: n }, (_, k) => `  s${n - 1 - k}:\n    needs: [${k === n - 1 ? last : `s${n - 2 - k}`}]\n    run: x\n`).join('').replace('    needs: []\n', '');
    const dag = buildDag(ok(`${HEAD}steps:\n${chain('')}`));
    expect(dag.ok && dag.value.order[0]).toBe('s0');
    const looped = buildDag(ok(`${HEAD}steps:\n${chain(`s${n - 1}`)}`));
    if (looped.ok) throw new Error('expected a cycle');
    const message = looped.errors.map(formatDiagnostic);
    expect(message).toHaveLength(1);
    expect(message[0]).toBe(`Repfile:6:13: steps.s${n - 1}.needs: dependency cycle: ${Array.from({ length: n }, (_, k) => `s${n - 1 - k}`).join(' -> ')} -> s${n - 1}`);
  }, 60_000);

  it('points a step that names itself at the field that names it: from, or the need among others', () => {
    expect(openErrors(project('  a:\n    run: x\n    from: a\n'))).toEqual(['Repfile:7:11: steps.a.from: dependency cycle: a -> a']);
    expect(openErrors(project('  b:\n    run: y\n    outputs: [/o]\n  a:\n    run: x\n    needs: [b, a]\n'))).toEqual([
      'Repfile:10:16: steps.a.needs: dependency cycle: a -> a',
    ]);
  });

  it('takes names of Object\'s members as names: an undeclared secret "toString" is unknown, a key "__proto__" an error, never dropped', () => {
    const dir = project('  a:\n    run: x\n    secrets: [toString, constructor]\n');
    expect(openErrors(dir)).toEqual([
      'Repfile:7:15: steps.a.secrets: unknown secret "toString"; declare it under the top-level secrets',
      'Repfile:7:25: steps.a.secrets: unknown secret "constructor"; declare it under the top-level secrets',
    ]);
    expect(errorsOf(`${HEAD}steps:\n  __proto__:\n    run: x\n  a:\n    run: y\n    env: {__proto__: x}\n`)).toEqual([
      'Repfile:5:3: a key named "__proto__" is not allowed (as a name it would vanish)',
      'Repfile:9:11: a key named "__proto__" is not allowed (as a name it would vanish)',
    ]);
  });

  it('orders steps and stages as a scan for the first ready one would, in time that does not grow as the cube of their number', () => {
    const naive = (n: number, deps: (i: number) => number[]) => {
      const done = new Set<number>();
      const out: number[] = [];
      while (out.length < n) {
        const next = Array.from({ length: n }, (_, i) => i).find((i) => !done.has(i) && deps(i).every((d) => d === i || done.has(d)))!;
        out.push(next);
        done.add(next);
      }
      return out;
    };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }).chain((n) => fc.tuple(fc.constant(n), fc.array(fc.array(fc.nat(n - 1), { maxLength: 4 }), { minLength: n, maxLength: n }))), ([n, raw]) => {
        // Dependencies on later indices of a random order only: no cycle.
        const rank = Array.from({ length: n }, (_, i) => (i * 7919) % n);
        const deps = (i: number) => raw[i]!.filter((d) => rank[d]! < rank[i]!);
        expect(stableOrder(n, deps)).toEqual(naive(n, deps));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a step named like the image other steps start from (FROM would name the step in the emitted Dockerfile)', () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: demo\nbase: busybox\nimage: {from: main}\nsteps:\n  busybox:\n    from: alpine:3.20\n    run: x\n  main:\n    run: y\n' });
    expect(openErrors(dir)).toEqual([
      'Repfile:6:3: steps.busybox: step name "busybox" is also the image other steps start from: in the emitted Dockerfile, FROM busybox would name this step; rename the step, or write the image with a tag (e.g. "busybox:latest")',
    ]);
  });

  it('rejects a second need that has no outputs to import', () => {
    const dir = project('  a:\n    run: x\n  b:\n    from: busybox:latest\n  c:\n    needs: [a, b]\n');
    expect(openErrors(dir)).toEqual([
      'Repfile:10:16: steps.c.needs: step "b" declares no outputs to copy in, and "c" builds on "a"; list the step to build on first in needs, or give "b" outputs',
    ]);
  });

  it('accepts a need that is already below the parent', () => {
    const dir = project('  a:\n    run: x\n  b:\n    needs: [a]\n  c:\n    needs: [b, a]\n');
    const p = open(dir);
    expect(p.dag.nodes.get('c')!.imports).toEqual([]);
    expect(p.dag.stages.map((s) => s.steps)).toEqual([['a', 'b', 'c']]);
  });

  it('catches a from that looks like a misspelt step', () => {
    const dir = project('  system:\n    run: x\n  app:\n    from: sytem\n');
    expect(openErrors(dir)[0]).toBe(
      'Repfile:8:11: steps.app.from: "sytem" is not a step (did you mean "system"?); to start from an image of that name, write it with a tag, e.g. "sytem:latest"',
    );
  });

  it('needs one image target when several steps end the graph', () => {
    const dir = project('  a:\n    run: x\n  b:\n    run: y\n');
    expect(openErrors(dir)).toEqual(['Repfile:4:1: steps: several steps could be the image (a, b); say which with image.from']);
    const fixed = project('  a:\n    run: x\n  b:\n    run: y\n', 'image:\n  from: b\n');
    expect(open(fixed).dag.target).toBe('b');
    const typo = project('  a:\n    run: x\n', 'image:\n  from: aa\n');
    expect(openErrors(typo)).toEqual(['Repfile:8:9: image.from: unknown step "aa" (did you mean "a"?)']);
  });

  it('groups steps into stages as a multi-stage Dockerfile would', () => {
    const dir = project(
      '  system:\n    run: x\n  deps:\n    needs: [system]\n  data:\n    from: busybox:latest\n    outputs: [/out]\n' +
        '  app:\n    needs: [deps, data]\n  test:\n    from: app\n    phony: true\n',
      'image:\n  from: app\n',
    );
    const { dag } = open(dir);
    expect(dag.order).toEqual(['system', 'deps', 'data', 'app', 'test']);
    expect(dag.stages.map((s) => [s.name, s.steps])).toEqual([
      ['data', ['data']],
      ['app', ['system', 'deps', 'app']],
      ['test', ['test']],
    ]);
    expect(dag.nodes.get('app')!.imports).toEqual(['data']);
  });
});

describe('Repfile.example', () => {
  it('is a valid Repfile whose steps form a graph', async () => {
    const { readFileSync } = await import('node:fs');
    const { buildDag } = await import('../../src/graph/dag.js');
    const { REPO } = await import('../helpers.js');
    const r = parseRepfile(readFileSync(`${REPO}/Repfile.example`), { file: 'Repfile.example' });
    if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
    const dag = buildDag(r.value);
    if (!dag.ok) throw new Error(dag.errors.map(formatDiagnostic).join('\n'));
    expect(dag.value.target).toBe('analysis');
    expect(dag.value.stages.map((s) => s.name)).toEqual(['data', 'analysis', 'check', 'fetch']);
  });
});

describe('Repfile strings that reach a Dockerfile', () => {
  const NL = '(a newline here would start a new Dockerfile instruction)';
  const one = (text: string) => errorsOf(text);

  it('rejects control characters in one-line fields, where they are', () => {
    const step = (body: string) => `${HEAD}steps:\n  a:\n${body}`;
    expect(one(HEAD + 'workdir: "/srv\\nRUN touch /pwned"\nsteps: {a: {run: x}}\n')).toEqual([
      `Repfile:4:10: workdir: workdir must not contain control characters or bidirectional overrides ${NL}`,
    ]);
    expect(one(step('    workdir: "/w\\rRUN x"\n'))).toEqual([`Repfile:6:14: steps.a.workdir: workdir must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(step('    user: "root\\nRUN id"\n'))).toEqual([`Repfile:6:11: steps.a.user: user must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(step('    user: "ro\\tot"\n'))).toEqual([`Repfile:6:11: steps.a.user: user must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(step('    shell: [/bin/sh, "-c\\n"]\n'))).toEqual([`Repfile:6:22: steps.a.shell[1]: a shell argument must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(step('    outputs: ["/out\\e"]\n'))).toEqual([`Repfile:6:15: steps.a.outputs[0]: a path must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(step('    from: "busybox\\nRUN id"\n'))).toEqual([`Repfile:6:11: steps.a.from: an image or step must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(HEAD.replace('base: debian:bookworm-slim', 'base: "debian\\nRUN id"') + 'steps: {a: {run: x}}\n')).toEqual([
      `Repfile:3:7: base: an image reference must not contain control characters or bidirectional overrides ${NL}`,
    ]);
    const image = (body: string) => `${HEAD}steps: {a: {run: x}}\nimage:\n${body}`;
    expect(one(image('  user: "u\\0"\n'))).toEqual([`Repfile:6:9: image.user: user must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(image('  tag: "demo:1\\nRUN id"\n'))).toEqual([`Repfile:6:8: image.tag: an image name must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(image('  cmd: "sh\\nRUN id"\n'))).toEqual([`Repfile:6:8: image.cmd: a command must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(image('  cmd: [sh, "-c\\rx"]\n'))).toEqual([`Repfile:6:13: image.cmd[1]: a command must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(image('  entrypoint: "x\\x7f"\n'))).toEqual([`Repfile:6:15: image.entrypoint: a command must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(image('  volumes: ["/v\\n"]\n'))).toEqual([`Repfile:6:13: image.volumes[0]: a path must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(image('  labels: {"k\\n": v}\n'))).toEqual([`Repfile:6:12: image.labels: a label key must not contain control characters or bidirectional overrides ${NL}`]);
    expect(one(HEAD + 'env: {"1x": a}\nsteps: {a: {run: x}}\n')).toEqual([
      'Repfile:4:7: env: an environment variable name is letters, digits and "_", not starting with a digit',
    ]);
    expect(one(HEAD + 'steps: {a: {run: x}}\nsecrets:\n  s: {file: "k\\n"}\n')).toEqual([
      `Repfile:6:13: secrets.s.file: a secret file path must not contain control characters or bidirectional overrides ${NL}`,
    ]);
  });

  it('rejects newlines and other control characters in env and label values, which ENV and LABEL cannot express', () => {
    expect(one(HEAD + 'env: {A: "x\\nRUN id"}\nsteps: {a: {run: x}}\n')).toEqual([
      'Repfile:4:10: env.A: an environment value must not contain newlines, other control characters or bidirectional overrides (Dockerfile ENV cannot express a newline; tabs are fine)',
    ]);
    expect(one(HEAD + 'steps:\n  a:\n    env: {B: "\\r"}\n')).toEqual([
      'Repfile:6:14: steps.a.env.B: an environment value must not contain newlines, other control characters or bidirectional overrides (Dockerfile ENV cannot express a newline; tabs are fine)',
    ]);
    expect(one(HEAD + 'steps: {a: {run: x}}\nimage:\n  labels: {k: "v\\nw"}\n')).toEqual([
      'Repfile:6:15: image.labels.k: a label value must not contain newlines, other control characters or bidirectional overrides (Dockerfile LABEL cannot express a newline; tabs are fine)',
    ]);
  });

  it('rejects label keys that LABEL KEY=VALUE cannot write: empty, or holding "="', () => {
    expect(errorsOf(HEAD + 'steps: {a: {run: x}}\nimage:\n  labels: {"a=b": x, "": y, ok.key: z}\n')).toEqual([
      'Repfile:6:12: image.labels: a label key must not contain "=" (Dockerfile LABEL KEY=VALUE cannot express it)',
      'Repfile:6:22: image.labels: a label key must not be empty',
    ]);
  });

  it('rejects label keys holding a character that shows nothing: "\\u200bmaintainer" reads as maintainer and is another key (a review)', () => {
    for (const c of ['\\u200b', '\\u200c', '\\u200d', '\\u2060', '\\ufeff']) {
      expect(errorsOf(HEAD + `steps: {a: {run: x}}\nimage:\n  labels: {"${c}maintainer": x}\n`), c).toEqual([
        'Repfile:6:12: image.labels: a label key must not contain a character that shows nothing (a zero-width space or joiner, a word joiner, a byte order mark): it would read as another key',
      ]);
    }
    // In a value, as in descriptions, joiners stay allowed (some scripts and emoji need them).
    expect(ok(HEAD + 'steps: {a: {run: x}}\nimage:\n  labels: {k: "a\\u200db"}\n').image.labels).toEqual({ k: 'a\u200db' });
  });

  it('allows newlines and tabs in run and description, but no other control characters', () => {
    const r = ok(HEAD + 'steps:\n  a:\n    description: "two\\nlines\\tand a tab"\n    run: ["if true; then\\n\\techo x\\nfi"]\n    env: {T: "a\\tb"}\nimage:\n  labels: {k: "v\\tw"}\n');
    expect(r.steps[0]!.run).toEqual(['if true; then\n\techo x\nfi']);
    expect(r.steps[0]!.env).toEqual({ T: 'a\tb' });
    expect(one(HEAD + 'steps:\n  a:\n    run: "echo a\\rRUN id"\n')).toEqual([
      'Repfile:6:10: steps.a.run: a shell command must not contain control characters other than newlines and tabs, nor bidirectional overrides',
    ]);
    expect(one(HEAD + 'steps:\n  a:\n    run: [x, "y\\0"]\n')).toEqual([
      'Repfile:6:14: steps.a.run[1]: a shell command must not contain control characters other than newlines and tabs, nor bidirectional overrides',
    ]);
    expect(one(HEAD + 'steps:\n  a:\n    description: "x\\rRUN id"\n')).toEqual([
      'Repfile:6:18: steps.a.description: a description must not contain control characters other than newlines and tabs, nor bidirectional overrides (each line becomes a Dockerfile comment)',
    ]);
  });

  it('rejects C1 controls, bidirectional overrides and marks and U+2028/U+2029 in every field that reaches the Dockerfile, as in citations', () => {
    const OV = 'control characters or bidirectional overrides';
    const step = (body: string) => `${HEAD}steps:\n  a:\n${body}`;
    const image = (body: string) => `${HEAD}steps: {a: {run: x}}\nimage:\n${body}`;
    for (const c of ['\\x85', '\\x9b', '\\u202e', '\\u2066', '\\u2069', '\\u200f', '\\u061c', '\\u2028', '\\u2029']) {
      expect(one(step(`    description: "ok ${c}cod.exe"\n`)), c).toEqual([
        `Repfile:6:18: steps.a.description: a description must not contain control characters other than newlines and tabs, nor bidirectional overrides (each line becomes a Dockerfile comment)`,
      ]);
      expect(one(step(`    run: "echo ${c}x"\n`)), c).toEqual([`Repfile:6:10: steps.a.run: a shell command must not contain control characters other than newlines and tabs, nor bidirectional overrides`]);
      expect(one(step(`    run: [a, "b${c}"]\n`)), c).toEqual([`Repfile:6:14: steps.a.run[1]: a shell command must not contain control characters other than newlines and tabs, nor bidirectional overrides`]);
      expect(one(HEAD + `env: {A: "x${c}"}\nsteps: {a: {run: x}}\n`), c).toEqual([
        'Repfile:4:10: env.A: an environment value must not contain newlines, other control characters or bidirectional overrides (Dockerfile ENV cannot express a newline; tabs are fine)',
      ]);
      expect(one(image(`  labels: {k: "v${c}"}\n`)), c).toEqual([
        'Repfile:6:15: image.labels.k: a label value must not contain newlines, other control characters or bidirectional overrides (Dockerfile LABEL cannot express a newline; tabs are fine)',
      ]);
      expect(one(step(`    workdir: "/w${c}"\n`)), c).toEqual([`Repfile:6:14: steps.a.workdir: workdir must not contain ${OV} ${NL}`]);
      expect(one(step(`    user: "u${c}"\n`)), c).toEqual([`Repfile:6:11: steps.a.user: user must not contain ${OV} ${NL}`]);
      expect(one(step(`    outputs: ["/o${c}"]\n`)), c).toEqual([`Repfile:6:15: steps.a.outputs[0]: a path must not contain ${OV} ${NL}`]);
      expect(one(step(`    shell: ["/bin/sh${c}", -c]\n`)), c).toEqual([`Repfile:6:13: steps.a.shell[0]: a shell argument must not contain ${OV} ${NL}`]);
      expect(one(image(`  cmd: "run ${c}"\n`)), c).toEqual([`Repfile:6:8: image.cmd: a command must not contain ${OV} ${NL}`]);
      expect(one(image(`  entrypoint: ["x${c}"]\n`)), c).toEqual([`Repfile:6:16: image.entrypoint[0]: a command must not contain ${OV} ${NL}`]);
      expect(one(image(`  volumes: ["/v${c}"]\n`)), c).toEqual([`Repfile:6:13: image.volumes[0]: a path must not contain ${OV} ${NL}`]);
      expect(one(image(`  labels: {"k${c}": v}\n`)), c).toEqual([`Repfile:6:12: image.labels: a label key must not contain ${OV} ${NL}`]);
    }
    // Other text outside ASCII is fine.
    const r = ok(step('    description: "café — naïve"\n    run: "echo 日本 ü"\n    workdir: /wörk\n'));
    expect(r.steps[0]).toMatchObject({ description: 'café — naïve', run: ['echo 日本 ü'], workdir: '/wörk' });
  });

  it('rejects a Repfile that is not UTF-8, at the first bad byte; a BOM is fine', () => {
    const bad = Buffer.concat([Buffer.from(HEAD + 'steps:\n  a:\n    run: echo caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const r = parseRepfile(bad, { file: 'Repfile' });
    expect(r.ok ? [] : r.errors.map(formatDiagnostic)).toEqual(['Repfile:6:18: not UTF-8 text (byte 0xE9); save the Repfile as UTF-8']);
    const later = Buffer.concat([Buffer.from('rep: 1\n# é ok\nname: d'), Buffer.from([0xc3, 0x28])]);
    const r2 = parseRepfile(later, { file: 'Repfile' });
    expect(r2.ok ? [] : r2.errors.map(formatDiagnostic)).toEqual(['Repfile:3:8: not UTF-8 text (byte 0xC3); save the Repfile as UTF-8']);
    const bom = parseRepfile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(HEAD + 'steps: {a: {run: café}}\n')]), { file: 'Repfile' });
    expect(bom.ok && bom.value.steps[0]!.run).toEqual(['café']);
  });
});

describe('image references', () => {
  const DIGEST = `sha256:${'a'.repeat(64)}`;
  const withBase = (base: string) => errorsOrNone(`rep: 1\nname: demo\nbase: ${JSON.stringify(base)}\nsteps: {a: {run: x}}\n`);
  // A base none of the tags below names (a tag naming the base is refused: tag-own.test.ts).
  const withTag = (tag: string) => errorsOrNone(`rep: 1\nname: demo\nbase: example.org/base:1\nsteps: {a: {run: x}}\nimage: {tag: ${JSON.stringify(tag)}}\n`);
  const withFrom = (from: string) => errorsOrNone(`${HEAD}steps:\n  app:\n    run: x\n  b:\n    from: ${JSON.stringify(from)}\nimage: {from: app}\n`, true);
  function errorsOrNone(text: string, graph = false): string[] {
    const r = parseRepfile(text, { file: 'Repfile' });
    if (!r.ok) return r.errors.map(formatDiagnostic);
    if (!graph) return [];
    const d = buildDag(r.value);
    return d.ok ? [] : d.errors.map(formatDiagnostic);
  }

  it('accepts what Docker accepts', () => {
    const good = [
      'busybox', 'busybox:latest', 'debian:bookworm-slim', 'library/debian:12', 'docker.io/library/debian:bookworm',
      '127.0.0.1:5000/rep/base:1', 'localhost/x', 'localhost:5000/a/b:c', 'registry.example.com:443/team/app_v2:1.0-rc.1',
      `ghcr.io/org/img@${DIGEST}`, `debian:12@${DIGEST}`, '[::1]:5000/x:y', 'a__b/c-d.e', 'a---b', 'Registry.Example.COM/x', 'scratch',
      `x:${'T'.repeat(128)}`,
    ];
    for (const ref of good) {
      expect(withBase(ref), ref).toEqual([]);
      expect(withFrom(ref), ref).toEqual([]);
    }
    for (const ref of good.filter((r) => !r.includes('@'))) expect(withTag(ref), ref).toEqual([]);
  });

  it('rejects what Docker rejects, saying why', () => {
    const msg = (ref: string, why: string) => `Repfile:3:7: base: "${ref}" is not an image reference: ${why}`;
    const shape = 'expected [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], e.g. debian:bookworm-slim';
    const cases: [string, string][] = [
      ['Debian:12', 'the repository name must be lowercase'],
      ['library/Debian', 'the repository name must be lowercase'],
      ['debian:', 'a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"'],
      ['debian:-rc', 'a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"'],
      [`x:${'t'.repeat(129)}`, 'a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"'],
      ['debian@sha256:abc', 'a digest is ALGORITHM:HEX with at least 32 hex digits, e.g. sha256: and 64 hex digits'],
      [`debian@${DIGEST}@x`, 'a digest is ALGORITHM:HEX with at least 32 hex digits, e.g. sha256: and 64 hex digits'],
      ['debian 12', shape],
      ['-x', shape],
      ['a/../b', shape],
      ['http://example.com/x', shape],
      ['debian::12', shape],
      ['a_-b', shape],
      ['x/', shape],
      ['a'.repeat(64), '64 hex digits name an image id, not a repository'],
      [`${'a'.repeat(256)}`, 'the name is longer than 255 characters'],
    ];
    for (const [ref, why] of cases) expect(withBase(ref), ref).toEqual([msg(ref, why)]);
  });

  it('checks from as an image when it names no step, and image.tag as NAME[:TAG]', () => {
    expect(withFrom('Busybox:latest')).toEqual([
      'Repfile:8:11: steps.b.from: "Busybox:latest" is not an image reference: the repository name must be lowercase',
    ]);
    expect(withFrom('busybox:latest\tx')).toEqual([
      `Repfile:8:11: steps.b.from: an image or step must not contain control characters or bidirectional overrides (a newline here would start a new Dockerfile instruction)`,
    ]);
    expect(withTag(`demo@${DIGEST}`)).toEqual([
      `Repfile:5:14: image.tag: "demo@${DIGEST}" has a digest; image.tag is [REGISTRY[:PORT]/]NAME[:TAG], e.g. paper/analysis:1.0`,
    ]);
    expect(withTag('Demo:1')).toEqual(['Repfile:5:14: image.tag: "Demo:1" is not an image reference: the repository name must be lowercase']);
    expect(withTag('--help')).toEqual([
      'Repfile:5:14: image.tag: "--help" is not an image reference: expected [REGISTRY[:PORT]/]NAME[:TAG], e.g. paper/analysis:1.0',
    ]);
  });

  it('reject a long hostile reference quickly', () => {
    const t0 = Date.now();
    withBase(`${'a-'.repeat(20000)}!`);
    withBase(`${'a.'.repeat(20000)}:`);
    withBase(`${'a'.repeat(100000)}!`);
    withBase(`${'A'.repeat(100000)}/`);
    withTag(`${'a.'.repeat(20000)}/a:`);
    expect(Date.now() - t0).toBeLessThan(500);
  });
});

describe('the published JSON Schema', () => {
  it('compiles with Ajv and carries the rules on control characters and references', () => {
    const ajv = new Ajv2020.default({ allErrors: true, strict: false });
    const validate = ajv.compile(repfileJsonSchema());
    const doc = (extra: object) => ({ rep: 1, name: 'demo', base: 'debian:bookworm-slim', steps: { a: { run: 'x' } }, ...extra });
    expect(validate(doc({})), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(doc({ workdir: '/srv\nRUN id' }))).toBe(false);
    expect(validate(doc({ base: 'Debian' }))).toBe(false);
    expect(validate(doc({ image: { tag: `x@sha256:${'a'.repeat(64)}` } }))).toBe(false);
    expect(validate(doc({ steps: { a: { run: 'a\n\tb', description: 'x\ny' } } }))).toBe(true);
    expect(validate(doc({ steps: { a: { run: 'a\rb' } } }))).toBe(false);
    for (const c of ['\x85', '\u202e', '\u2028']) {
      expect(validate(doc({ steps: { a: { run: `a${c}b` } } })), c).toBe(false);
      expect(validate(doc({ steps: { a: { run: 'x', description: `d${c}` } } })), c).toBe(false);
      expect(validate(doc({ env: { A: `v${c}` } })), c).toBe(false);
      expect(validate(doc({ workdir: `/w${c}` })), c).toBe(false);
    }
    expect(validate(doc({ steps: { a: { run: 'echo café', description: 'naïve' } } }))).toBe(true);
  });

  it('compiles in Ajv strict mode and refuses what rep refuses by syntax alone', () => {
    const validate = new Ajv2020.default({ strict: true, allErrors: true }).compile(repfileJsonSchema());
    const yaml = (doc: object) => JSON.stringify(doc); // JSON is YAML: the same document for both
    const base = { rep: 1, name: 'demo', base: 'debian:bookworm-slim' };
    const refused = {
      'zero steps': { ...base, steps: {} },
      'a bad step name': { ...base, steps: { App: { run: 'x' } } },
      'a step name over 63 characters': { ...base, steps: { [`a${'b'.repeat(63)}`]: { run: 'x' } } },
      'a relative workdir': { ...base, workdir: 'srv', steps: { a: { run: 'x' } } },
      'a relative step workdir': { ...base, steps: { a: { run: 'x', workdir: 'srv' } } },
      'an image id as base': { ...base, base: 'a'.repeat(64), steps: { a: { run: 'x' } } },
      'an author with no family name nor name': { ...base, steps: { a: { run: 'x' } }, publish: { title: 'T', authors: [{ given: 'Ada' }] } },
      'a url without a scheme': { ...base, steps: { a: { run: 'x' } }, publish: { title: 'T', authors: [{ name: 'Org' }], url: 'example.org' } },
    };
    for (const [what, doc] of Object.entries(refused)) {
      expect(parseRepfile(yaml(doc), { file: 'Repfile' }).ok, `rep accepts ${what}`).toBe(false);
      expect(validate(doc), `the schema accepts ${what}`).toBe(false);
    }
    const accepted = { ...base, workdir: '/srv', steps: { [`a${'b'.repeat(62)}`]: { run: 'x' } }, publish: { title: 'T', authors: [{ given: 'Ada', family: 'L' }], url: 'https://example.org' } };
    expect(parseRepfile(yaml(accepted), { file: 'Repfile' }).ok).toBe(true);
    expect(validate(accepted), JSON.stringify(validate.errors)).toBe(true);
  });
});
