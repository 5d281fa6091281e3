// Failed builds with a real docker engine: the failure is reported where it
// belongs (a step, a Repfile field), nothing records success that was not
// reached, and nothing is left behind in the engine.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { makeProject, rep } from '../helpers.js';
import { DOCKER_BIN, sh } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A project folder, removed after the test with every image its builds made (by key) and its tag. */
function project(files: Record<string, string>, tag: string): { dir: string; keys: Set<string> } {
  const dir = makeProject(files);
  const keys = new Set<string>();
  cleanups.push(() => {
    for (const k of keys) sh(DOCKER_BIN, ['image', 'rm', '-f', `rep-cache:${k.replace(/^sha256:/, '')}`]);
    sh(DOCKER_BIN, ['image', 'rm', '-f', tag]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, keys };
}

/** `rep build --json` events; every key they name is remembered for the cleanup. */
function events(stdout: string, keys: Set<string>): BuildEvent[] {
  const all = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as BuildEvent | { type: 'record' })
    .filter((e): e is BuildEvent => e.type !== 'record');
  for (const e of all) if ('key' in e) keys.add(e.key);
  return all;
}

const CLASSIC = { DOCKER_BUILDKIT: '0', CI: '1' };

describe('a step that never creates its declared outputs', () => {
  const repfile = () => `rep: 1
name: outputs
base: busybox:latest
env: {TEST_RUN: "${randomUUID()}"}
steps:
  data:
    from: busybox:latest
    run: mkdir -p /out && echo x > /out/other.txt
    outputs: [/out/missing.txt]
  app:
    from: busybox:latest
    needs: [data]
    run: cat /out/missing.txt > /app
image:
  tag: rep-test/outputs:latest
`;

  it('fails that step with a located error on steps.NAME.outputs, exit 1, a finish event; the next build runs the step again', () => {
    const { dir, keys } = project({ Repfile: repfile() }, 'rep-test/outputs:latest');
    const a = rep(dir, ['build', '--engine', 'docker', '--json'], CLASSIC);
    const ev = events(a.stdout, keys);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(1);
    const located = 'Repfile:9:14: steps.data.outputs: the step did not create /out/missing.txt';
    expect(ev.filter((e) => e.type === 'step-failed')).toEqual([expect.objectContaining({ step: 'data', error: located })]);
    expect(ev.filter((e) => e.type === 'step-skipped')).toEqual([{ type: 'step-skipped', step: 'app', because: '"data" failed' }]);
    expect(ev.filter((e) => e.type === 'finish')).toEqual([expect.objectContaining({ ok: false })]);
    expect(ev.at(-1)!.type).toBe('finish');

    // Nothing recorded the step as done: the next build builds it again, and says the same.
    const b = rep(dir, ['build', '--engine', 'docker'], CLASSIC);
    expect(b.code).toBe(1);
    expect(b.stderr).toBe('');
    expect(b.stdout).toMatch(/^build {3}data: /m);
    expect(b.stdout).toContain(`failed  data: ${located}\n`);
    expect(b.stdout).toContain('rep: build failed: 0 built, 0 cached, data failed\n');
    expect(b.stdout + b.stderr).not.toMatch(/\n\s+at |\d+,\d+,\d+,\d+/);
  }, 120_000);
});

describe('success is recorded only once everything the build promises is written', () => {
  it('when .rep/provenance.json cannot be written, the build fails and the next one does not answer "nothing to build"', () => {
    const tag = `rep-test/provenance-${randomUUID().slice(0, 8)}:latest`;
    const { dir, keys } = project(
      { Repfile: `rep: 1\nname: prov\nbase: busybox:latest\nenv: {TEST_RUN: "${randomUUID()}"}\nsteps:\n  one:\n    run: echo one > /one\nimage:\n  tag: ${tag}\n` },
      tag,
    );
    // A folder where the provenance statement goes: writing it fails, as on a full disk.
    mkdirSync(path.join(dir, '.rep/provenance.json/blocked'), { recursive: true });
    const a = rep(dir, ['build', '--engine', 'docker', '--json'], CLASSIC);
    events(a.stdout.split('\n').filter((l) => l.startsWith('{')).join('\n'), keys);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^rep: .*provenance\.json/);
    expect(existsSync(path.join(dir, '.rep/noop.json'))).toBe(false);

    const b = rep(dir, ['build', '--engine', 'docker'], CLASSIC);
    expect(b.stdout).not.toMatch(/nothing to build/);
    expect(b.code).toBe(1);

    // Once it can be written, the build writes it and succeeds.
    rmSync(path.join(dir, '.rep/provenance.json'), { recursive: true });
    const c = rep(dir, ['build', '--engine', 'docker'], CLASSIC);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(existsSync(path.join(dir, '.rep/provenance.json'))).toBe(true);
  }, 120_000);
});

describe('the classic builder', () => {
  it('leaves no container behind when a step fails', () => {
    const { dir, keys } = project(
      {
        Repfile: `rep: 1\nname: leftover\nbase: busybox:latest\nenv: {TEST_RUN: "${randomUUID()}"}\nsteps:\n  one:\n    run: echo one > /one\n  two:\n    needs: [one]\n    run: echo failing && exit 3\nimage:\n  tag: rep-test/leftover:latest\n`,
      },
      'rep-test/leftover:latest',
    );
    let parent = '';
    const containers = () => sh(DOCKER_BIN, ['ps', '-a', '-q', '--filter', `ancestor=${parent}`]).trim();
    cleanups.push(() => {
      const left = parent ? containers() : '';
      if (left) sh(DOCKER_BIN, ['rm', '-f', ...left.split('\n')]);
    });
    for (let i = 0; i < 2; i++) {
      const r = rep(dir, ['build', '--engine', 'docker', '--json'], CLASSIC);
      const ev = events(r.stdout, keys);
      expect(r.code).toBe(1);
      expect(ev.filter((e) => e.type === 'step-failed')).toEqual([expect.objectContaining({ step: 'two', exitCode: 3 })]);
      const one = ev.find((e) => (e.type === 'step-built' || e.type === 'step-cached') && e.step === 'one') as { key: string };
      parent = `rep-cache:${one.key.replace(/^sha256:/, '')}`;
      // Every container made from the step image below the failed one (intermediate ones included).
      expect(containers()).toBe('');
    }
  }, 120_000);
});
