import { chmodSync, cpSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build.js';
import { hashInputs, planBuild, Planner, planSteps } from '../../src/plan/plan.js';
import { readState, type State } from '../../src/state/state.js';
import { NoneEngine } from '../../src/engine/none.js';
import { formatReason } from '../../src/plan/reasons.js';
import { stepKey, KEY_FORMAT, type StepMaterial } from '../../src/plan/key.js';
import { makeProject, open } from '../helpers.js';

const REPFILE = `rep: 1
name: demo
base: debian:bookworm-slim
env: {LANG: C.UTF-8}
steps:
  system:
    run: apt-get install -y python3
  deps:
    needs: [system]
    inputs: [requirements.txt]
    run: pip install -r requirements.txt
  data:
    from: busybox:latest
    inputs: [data/]
    run: cp data/raw.csv /out.csv
    outputs: [/out.csv]
  app:
    needs: [deps, data]
    inputs: [src/]
    run: python3 -m compileall src
`;

const TREE = {
  Repfile: REPFILE,
  'requirements.txt': 'numpy\n',
  'data/raw.csv': 'a,b\n1,2\n',
  'src/main.py': 'print(1)\n',
  'src/util.py': 'x = 1\n',
};

async function recorded(dir: string) {
  const r = await build(open(dir), { engine: new NoneEngine() });
  if (!r.ok) throw new Error('build failed');
  return r.value;
}

function plan(dir: string) {
  const p = open(dir);
  const r = planBuild(p.dag, p.ctx, { state: readState(p.ctx.dir) });
  if (!r.ok) throw new Error('plan failed');
  return r.value;
}

const summary = (dir: string) =>
  Object.fromEntries(plan(dir).steps.map((s) => [s.name, s.state === 'fresh' ? 'fresh' : s.reasons.map(formatReason)]));

describe('step keys', () => {
  it('are the same for the same Repfile and inputs, wherever the project lives and whatever the mtimes', () => {
    const a = makeProject(TREE);
    const b = mkdtempSync(path.join(tmpdir(), 'elsewhere-'));
    cpSync(a, b, { recursive: true });
    utimesSync(path.join(b, 'src/main.py'), 12345, 12345);
    const ka = plan(a).steps.map((s) => s.key);
    expect(plan(b).steps.map((s) => s.key)).toEqual(ka);
    expect(plan(a).steps.map((s) => s.key)).toEqual(ka);
    expect(new Set(ka).size).toBe(4);
  });

  it('hash a canonical JSON, so field order does not matter', () => {
    const m: StepMaterial = {
      format: KEY_FORMAT,
      base: 'x',
      def: { run: ['a'], env: { A: '1', B: '2' }, workdir: '/w', phony: false },
      inputs: {},
      imports: {},
    };
    const reordered = JSON.parse(JSON.stringify({ imports: {}, inputs: {}, def: { phony: false, workdir: '/w', env: { B: '2', A: '1' }, run: ['a'] }, base: 'x', format: KEY_FORMAT }));
    expect(stepKey(reordered)).toBe(stepKey(m));
    expect(stepKey(m)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('chain on the parent: a lower change changes every key above it', () => {
    const dir = makeProject(TREE);
    const before = plan(dir);
    writeFileSync(path.join(dir, 'Repfile'), REPFILE.replace('install -y python3', 'install -y python3-minimal'));
    const after = plan(dir);
    for (const s of ['system', 'deps', 'app']) expect(after.step(s).key).not.toBe(before.step(s).key);
    expect(after.step('data').key).toBe(before.step('data').key);
  });
});

describe('a long chain of steps', () => {
  it('is planned without a walk as deep as the chain (15,000 steps overflowed the call stack), each step in the workdir it inherits', () => {
    const n = 15000;
    const steps = Array.from({ length: n }, (_, i) => (i === 0 ? '  s0:\n    workdir: /deep\n    run: x\n' : `  s${i}:\n    needs: [s${i - 1}]\n    run: x\n`)).join('');
    const dir = makeProject({ Repfile: `rep: 1\nname: demo\nbase: debian:bookworm-slim\nsteps:\n${steps}` });
    const p = plan(dir);
    expect(p.steps.length).toBe(n);
    expect(p.step(`s${n - 1}`).material.def.workdir).toBe('/deep');
  }, 60_000);
});

describe('one plan per build', () => {
  it('keys a step once for each set of producer digests, and a phony step with one nonce', () => {
    const dir = makeProject({ ...TREE, Repfile: REPFILE.replace('    run: python3 -m compileall src', '    run: python3 -m compileall src\n    phony: true') });
    const p = open(dir);
    const inputs = hashInputs(p.dag, p.ctx);
    if (!inputs.ok) throw new Error('inputs');
    const planner = new Planner(p.dag, inputs.value);
    const plan = planSteps(planner);
    const asPlanned = plan.steps.map((s) => s.key);
    // The scheduler asks again with the same producer digests: the same keys, not recomputed.
    const again = p.dag.order.map((n) => planner.key(n, (_p, k) => `key:${k}`));
    expect(again.map((k) => k.key)).toEqual(asPlanned);
    expect(planner.key('app', (_p, k) => `key:${k}`)).toBe(planner.key('app', (_p, k) => `key:${k}`));
    // A measured digest of the producer's outputs keys the consumer anew, and only it.
    const measured = planner.key('app', () => `sha256:${'a'.repeat(64)}`);
    expect(measured.key).not.toBe(plan.step('app').key);
    expect(planner.key('deps', () => `sha256:${'a'.repeat(64)}`).key).toBe(plan.step('deps').key);
    // Settling it changes what the plan says of the step, and only that step.
    planner.settle('app', measured, true);
    expect(plan.step('app')).toMatchObject({ key: measured.key, state: 'fresh' });
    expect(plan.steps.map((s) => s.key)).toEqual([...asPlanned.slice(0, -1), measured.key]);
    // A phony step keeps its nonce within a plan; a new plan draws a new one.
    expect(plan.step('app').material.nonce).toBe(measured.material.nonce);
    expect(planSteps(new Planner(p.dag, inputs.value)).step('app').material.nonce).not.toBe(measured.material.nonce);
  });
});

describe('stale reasons', () => {
  it('a new project: every step never built; after a build: all fresh', async () => {
    const dir = makeProject(TREE);
    expect(summary(dir)).toEqual({ system: ['never built'], deps: ['never built'], data: ['never built'], app: ['never built'] });
    await recorded(dir);
    expect(summary(dir)).toEqual({ system: 'fresh', deps: 'fresh', data: 'fresh', app: 'fresh' });
  });

  it('an input changed, added, removed, or its mode changed', async () => {
    const dir = makeProject(TREE);
    await recorded(dir);
    writeFileSync(path.join(dir, 'src/main.py'), 'print(2)\n');
    writeFileSync(path.join(dir, 'src/new.py'), '');
    rmSync(path.join(dir, 'src/util.py'));
    chmodSync(path.join(dir, 'requirements.txt'), 0o600);
    expect(summary(dir)).toEqual({
      system: 'fresh',
      deps: ['input mode changed: requirements.txt (644 -> 600)'],
      data: 'fresh',
      app: ['builds on "deps", which changed', 'input changed: src/main.py', 'input added: src/new.py', 'input removed: src/util.py'],
    });
    const json = plan(dir).step('app').reasons;
    expect(json).toEqual([
      { kind: 'upstream', step: 'deps' },
      { kind: 'input-changed', path: 'src/main.py' },
      { kind: 'input-added', path: 'src/new.py' },
      { kind: 'input-removed', path: 'src/util.py' },
    ]);
  });

  it('a field of the step changed; the steps above say which step below changed', async () => {
    const dir = makeProject(TREE);
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), REPFILE.replace('pip install -r requirements.txt', 'pip install --no-deps -r requirements.txt'));
    expect(summary(dir)).toEqual({
      system: 'fresh',
      deps: ['steps.deps.run changed'],
      data: 'fresh',
      app: ['builds on "deps", which changed'],
    });
  });

  it('the order of the producers in needs changed: where their outputs overlap, the last one copied wins', async () => {
    const two = (needs: string) => `rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  a:\n    outputs: [/out]\n    run: echo A > /out\n  b:\n    outputs: [/out]\n    run: echo B > /out\n  base:\n    run: "true"\n  app:\n    needs: [${needs}]\n    run: cat /out\n`;
    const dir = makeProject({ Repfile: two('base, a, b') });
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), two('base, b, a'));
    expect(summary(dir)).toEqual({ a: 'fresh', b: 'fresh', base: 'fresh', app: ['steps.app.needs changed'] });
  });

  it('the outputs a producer declares changed: it is keyed anew, so no digest measured over the old paths stands for the new ones', async () => {
    const dir = makeProject(TREE);
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), REPFILE.replace('outputs: [/out.csv]', 'outputs: [/out.csv, /tmp]'));
    expect(summary(dir)).toEqual({ system: 'fresh', deps: 'fresh', data: ['steps.data.outputs changed'], app: ['outputs of "data" changed'] });
  });

  it("another stage's outputs changed", async () => {
    const dir = makeProject(TREE);
    await recorded(dir);
    writeFileSync(path.join(dir, 'data/raw.csv'), 'a,b\n3,4\n');
    expect(summary(dir)).toEqual({
      system: 'fresh',
      deps: 'fresh',
      data: ['input changed: data/raw.csv'],
      app: ['outputs of "data" changed'],
    });
  });

  it('the base image or Repfile-wide settings changed', async () => {
    const dir = makeProject(TREE);
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), REPFILE.replace('base: debian:bookworm-slim', 'base: debian:trixie-slim').replace('LANG: C.UTF-8', 'LANG: C'));
    expect(summary(dir)).toEqual({
      system: ['base image changed: debian:bookworm-slim -> debian:trixie-slim', 'env changed'],
      deps: ['builds on "system", which changed'],
      data: ['env changed'],
      app: ['builds on "deps", which changed', 'outputs of "data" changed'],
    });
  });

  it('a phony step is always stale, and so is what builds on it', async () => {
    const dir = makeProject({ ...TREE, Repfile: REPFILE.replace('    run: cp data/raw.csv /out.csv', '    run: cp data/raw.csv /out.csv\n    phony: true') });
    await recorded(dir);
    const p = plan(dir);
    expect(p.step('data').reasons).toEqual([{ kind: 'phony' }]);
    expect(p.step('system').state).toBe('fresh');
    expect(p.step('app').reasons).toEqual([{ kind: 'import', step: 'data' }]);
    expect(plan(dir).step('data').key).not.toBe(p.step('data').key);
  });

  it('a step moved onto another step says so, and blames the step it builds on only when that step changed', async () => {
    const repfile = (c: string, aRun = 'echo a') => `rep: 1\nname: t\nbase: busybox:latest\nimage: {from: c}\nsteps:\n  a:\n    run: ${aRun}\n  b:\n    run: echo b\n  c:\n${c}    run: echo c\n`;
    const dir = makeProject({ Repfile: repfile('    needs: [a]\n') });
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), repfile('    needs: [b]\n'));
    expect(summary(dir)).toEqual({ a: 'fresh', b: 'fresh', c: ['now builds on "b" (was on "a")'] });
    // Moved while the step it was on changed too: that step's recorded key is still the one built on.
    writeFileSync(path.join(dir, 'Repfile'), repfile('    from: b\n', 'echo A'));
    expect(summary(dir).c).toEqual(['now builds on "b" (was on "a")']);
    // Onto a step from an image.
    writeFileSync(path.join(dir, 'Repfile'), repfile(''));
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), repfile('    needs: [a]\n'));
    expect(summary(dir).c).toEqual(['now builds on "a" (was on the image busybox:latest)']);
    await recorded(dir);
    // The same step, changed.
    writeFileSync(path.join(dir, 'Repfile'), repfile('    needs: [a]\n', 'echo A'));
    expect(summary(dir).c).toEqual(['builds on "a", which changed']);
    // A build that failed after rebuilding a left c's old record, built on a key no step has now:
    // c may have moved or not, so neither a change of a nor a move is claimed.
    const p = open(dir);
    const state = readState(p.ctx.dir)!;
    const now = planBuild(p.dag, p.ctx, { state });
    if (!now.ok) throw new Error('plan failed');
    const after = planBuild(p.dag, p.ctx, { state: { ...state, steps: { ...state.steps, a: { key: now.value.step('a').key } } } });
    if (!after.ok) throw new Error('plan failed');
    expect(after.value.step('c').reasons).toEqual([{ kind: 'parent', step: 'a' }]);
    expect(after.value.step('c').reasons.map(formatReason)).toEqual(['builds on "a", not on what it was last built on (no longer recorded)']);
  });

  it('a producer added to needs, or dropped, is said to be imported or no longer, not to have changed', async () => {
    const repfile = (needs: string) =>
      `rep: 1\nname: t\nbase: busybox:latest\nimage: {from: c}\nsteps:\n  a:\n    run: echo a\n  p:\n    outputs: [/p]\n    run: echo p > /p\n  q:\n    outputs: [/q]\n    run: echo q > /q\n  c:\n    needs: [${needs}]\n    run: echo c\n`;
    const dir = makeProject({ Repfile: repfile('a') });
    const change = async (needs: string) => {
      await recorded(dir);
      writeFileSync(path.join(dir, 'Repfile'), repfile(needs));
      return summary(dir).c;
    };
    expect(await change('a, p')).toEqual(['now imports "p"']);
    expect(await change('a, q')).toEqual(['no longer imports "p"', 'now imports "q"']);
    expect(await change('a')).toEqual(['no longer imports "q"']);
    // Only the order of the producers kept is a change of needs itself.
    expect(await change('a, p, q')).toEqual(['now imports "p"', 'now imports "q"']);
    expect(await change('a, q')).toEqual(['no longer imports "p"']);
    expect(summary(dir)).toMatchObject({ a: 'fresh', p: 'fresh', q: 'fresh' });
  });

  it("a fresh producer's outputs with no measurement recorded (a state without this rep's seal) are measured by the build; a stale one's once it reruns", () => {
    const repfile = `rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  a:\n    run: echo a\n  p:\n    outputs: [/p]\n    run: echo p > /p\n  c:\n    needs: [a, p]\n    run: echo c\n`;
    const dir = makeProject({ Repfile: repfile });
    const proj = open(dir);
    const inputs = hashInputs(proj.dag, proj.ctx);
    if (!inputs.ok) throw new Error('inputs');
    // As an engine's build records it: every step built, p's outputs measured.
    const digest = `sha256:${'d'.repeat(64)}`;
    const built = planSteps(new Planner(proj.dag, inputs.value), { isFresh: () => true, outputsDigest: () => digest });
    const state: State = { version: 2, repfileSha256: '', engine: 'docker', target: 'c', steps: Object.fromEntries(built.steps.map((s) => [s.name, { key: s.key, material: s.material }])) };
    const keys = new Set(built.steps.map((s) => s.key));
    // As engineFreshness asks: fresh where the engine has the key's image, and the digest recorded (here: none).
    const again = (images: Set<string>) => planSteps(new Planner(proj.dag, inputs.value, { state }), { state, isFresh: (_n, k) => images.has(k), outputsDigest: () => undefined });
    const unsealed = again(keys);
    expect(unsealed.step('p').state).toBe('fresh');
    expect(unsealed.step('c').reasons).toEqual([{ kind: 'unmeasured', step: 'p' }]);
    expect(unsealed.step('c').reasons.map(formatReason)).toEqual(['outputs of "p" are measured by the next build']);
    const gone = again(new Set([...keys].filter((k) => k !== state.steps.p!.key)));
    expect(gone.step('c').reasons.map(formatReason)).toEqual(['outputs of "p" are known once it reruns']);
  });

  it('a .dockerignore change that hides an input removes it from the key', async () => {
    const dir = makeProject(TREE);
    await recorded(dir);
    writeFileSync(path.join(dir, '.dockerignore'), 'src/util.py\n');
    expect(summary(dir).app).toEqual(['input removed: src/util.py']);
  });
});

describe('an input named like a property of every object', () => {
  it('keys its step: a file named __proto__ is an input like any other', () => {
    const dir = makeProject({ Repfile: 'rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  app:\n    inputs: [__proto__, constructor]\n    run: cat __proto__ constructor\n' });
    writeFileSync(path.join(dir, '__proto__'), 'one\n');
    writeFileSync(path.join(dir, 'constructor'), 'c\n');
    const keyNow = () => {
      const p = open(dir);
      const inputs = hashInputs(p.dag, p.ctx);
      if (!inputs.ok) throw new Error('inputs');
      return planSteps(new Planner(p.dag, inputs.value)).step('app');
    };
    const before = keyNow();
    expect(Object.keys(before.material.inputs).sort()).toEqual(['__proto__', 'constructor']);
    writeFileSync(path.join(dir, '__proto__'), 'two\n');
    expect(keyNow().key).not.toBe(before.key);
  });

  it('is said to be added when it is new, named constructor, toString or __proto__ (not changed, not a crash)', async () => {
    const repfile = (inputs: string) => `rep: 1\nname: t\nbase: busybox:latest\nsteps:\n  constructor:\n    outputs: [/o]\n    run: touch /o\n  app:\n    needs: [constructor]\n    inputs: [${inputs}]\n    run: cat a.txt\n`;
    const dir = makeProject({ Repfile: repfile('a.txt'), 'a.txt': 'a\n', toString: 't\n' });
    writeFileSync(path.join(dir, 'constructor'), 'c\n');
    writeFileSync(path.join(dir, '__proto__'), 'p\n');
    await recorded(dir);
    writeFileSync(path.join(dir, 'Repfile'), repfile('a.txt, constructor, toString, __proto__'));
    expect(summary(dir).app).toEqual(['input added: __proto__', 'input added: constructor', 'input added: toString']);
  });
});

describe('what the engine says the keys depend on', () => {
  const ID = (c: string) => `sha256:${c.repeat(64)}`;
  const facts = (platform: string | undefined, ids: Record<string, string>) => ({ ...(platform ? { platform } : {}), baseIds: new Map(Object.entries(ids)) });
  const planWith = (dir: string, f?: ReturnType<typeof facts>, resolveBase?: (r: string) => string) => {
    const p = open(dir);
    const r = planBuild(p.dag, p.ctx, { state: readState(p.ctx.dir), facts: f, resolveBase });
    if (!r.ok) throw new Error('plan failed');
    return r.value;
  };

  it('a base tag naming another image (a pull) keys its stages anew, and says which image it was', async () => {
    const dir = makeProject(TREE);
    const before = planWith(dir, facts('linux/amd64', { 'debian:bookworm-slim': ID('1'), 'busybox:latest': ID('2') }));
    const after = planWith(dir, facts('linux/amd64', { 'debian:bookworm-slim': ID('3'), 'busybox:latest': ID('2') }));
    for (const s of ['system', 'deps', 'app']) expect(after.step(s).key).not.toBe(before.step(s).key);
    expect(after.step('data').key).toBe(before.step('data').key);
    await build(open(dir), { engine: new NoneEngine() });
    // Recorded without an engine (no id): the first id is a change too, named so.
    const reasons = planWith(dir, facts(undefined, { 'debian:bookworm-slim': ID('3') })).step('system').reasons.map(formatReason);
    expect(reasons).toEqual([`base image changed: debian:bookworm-slim (no image on the engine) -> debian:bookworm-slim (image ${'3'.repeat(12)})`]);
  });

  it('a base a digest pins is keyed by the digest alone, whatever the engine has under its tag', () => {
    const dir = makeProject(TREE);
    const pin = (r: string) => (r === 'debian:bookworm-slim' ? `debian:bookworm-slim@${ID('d')}` : r);
    const one = planWith(dir, facts(undefined, { 'debian:bookworm-slim': ID('1') }), pin);
    const two = planWith(dir, facts(undefined, { 'debian:bookworm-slim': ID('3') }), pin);
    expect(two.step('system').key).toBe(one.step('system').key);
  });

  it('another platform keys every step anew (a lock pins a base for all platforms at once), and says so', async () => {
    const dir = makeProject(TREE);
    const amd = planWith(dir, facts('linux/amd64', {}));
    const arm = planWith(dir, facts('linux/arm64', {}));
    for (const s of ['system', 'deps', 'data', 'app']) expect(arm.step(s).key).not.toBe(amd.step(s).key);
    await build(open(dir), { engine: new NoneEngine() });
    expect(planWith(dir, facts('linux/arm64', {})).step('data').reasons.map(formatReason)).toEqual(['built for another platform: none said -> linux/arm64']);
  });
});
