import { describe, expect, it } from 'vitest';
import { makeProject, openErrors, open } from '../helpers.js';
import { parseRepfile } from '../../src/repfile/load.js';
import { formatDiagnostic, renderDiagnostic } from '../../src/diag.js';
import { repfileJsonSchema } from '../../src/repfile/schema.js';

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
    expect(errorsOf('- a\n- b\n')).toEqual(['Repfile:1:1: expected a mapping with at least `rep: 1`, `name`, `base` and `steps`']);
  });

  it('reports unresolved aliases and alias bombs where they are, without crashing', () => {
    expect(errorsOf('rep: 1\nname: *x\n')).toEqual(['Repfile:2:7: YAML: Unresolved alias (the anchor must be set before the alias): x']);
    const bomb = 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    expect(errorsOf(bomb)).toEqual(['Repfile:2:8: YAML: Excessive alias count indicates a resource exhaustion attack']);
  });

  it('underlines the offending text', () => {
    const text = HEAD + 'steps:\n  app:\n    nedds: [x]\n';
    const r = parseRepfile(text, { file: 'Repfile' });
    if (r.ok) throw new Error('expected errors');
    expect(renderDiagnostic(r.errors[0]!, text)).toBe(
      'Repfile:6:5: steps.app.nedds: unknown field "nedds" (did you mean "needs"?)\n 6 |     nedds: [x]\n   |     ^^^^^',
    );
  });

  it('publishes a JSON Schema generated from the same schema', () => {
    const s = repfileJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(s.properties)).toEqual(['rep', 'name', 'base', 'workdir', 'env', 'steps', 'image', 'secrets', 'publish']);
    expect(s.required).toEqual(['rep', 'name', 'base', 'steps']);
  });
});

describe('Repfile references and graph', () => {
  const project = (steps: string, extra = '') => makeProject({ Repfile: HEAD + 'steps:\n' + steps + extra, 'a.txt': 'a' });

  it('suggests the step meant by a misspelt need', () => {
    const dir = project('  system:\n    run: x\n  app:\n    needs: [sytem]\n');
    expect(openErrors(dir)).toEqual(['Repfile:8:13: steps.app.needs: unknown step "sytem" (did you mean "system"?)']);
  });

  it('names every step of a cycle, in order', () => {
    const dir = project('  a:\n    needs: [c]\n  b:\n    needs: [a]\n  c:\n    needs: [b]\n');
    expect(openErrors(dir)).toEqual(['Repfile:6:13: steps.a.needs: dependency cycle: a -> c -> b -> a']);
    const self = project('  a:\n    needs: [a]\n');
    expect(openErrors(self)).toEqual(['Repfile:6:13: steps.a.needs: dependency cycle: a -> a']);
    const viaFrom = project('  a:\n    from: b\n  b:\n    needs: [a]\n');
    expect(openErrors(viaFrom)).toEqual(['Repfile:6:11: steps.a.from: dependency cycle: a -> b -> a']);
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
