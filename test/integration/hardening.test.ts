// Killing rep at any moment never corrupts .rep/: the next build resumes.
// A cloned repository's crafted .rep/ never makes rep write outside it.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, makeProject, rep } from '../helpers.js';
import { DOCKER_BIN, sh } from './helpers.js';
import { materialReader } from '../../src/state/materials.js';
import { STATE_VERSION } from '../../src/state/state.js';

const repfile = () => `rep: 1
name: killed
base: busybox:latest
env: {TEST_RUN: "${randomUUID()}"}
steps:
  one:
    inputs: [a.txt]
    run: sleep 1 && cp a.txt /one
  two:
    needs: [one]
    run: sleep 1 && cat /one > /two
  side:
    from: busybox:latest
    run: sleep 1 && mkdir -p /out && echo side > /out/side
    outputs: [/out/side]
  three:
    needs: [two, side]
    run: cat /two /out/side > /three
image:
  tag: rep-test/killed:latest
`;

/** A small seeded generator, so that "random" points are the same on every run. */
function points(seed: number, n: number, max: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 100 + (x % max);
  });
}

function killAfter(dir: string, ms: number, signal: NodeJS.Signals): Promise<number | null> {
  const child = spawn(process.execPath, [CLI, 'build', '--engine', 'docker'], { cwd: dir, env: { ...process.env, CI: '1' }, stdio: 'ignore' });
  setTimeout(() => child.kill(signal), ms);
  return new Promise((r) => child.on('exit', (code) => r(code)));
}

function stateIsSound(dir: string): void {
  const file = path.join(dir, '.rep/state.json');
  if (!existsSync(file)) return;
  const s = JSON.parse(readFileSync(file, 'utf8'));
  expect(s.version).toBe(STATE_VERSION);
  for (const rec of Object.values(s.steps) as { key: string }[]) {
    expect(rec.key).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Each key's material was written before the state named it.
    expect(materialReader(dir)(rec.key), rec.key).toBeDefined();
  }
}

describe('interrupted builds', () => {
  for (const signal of ['SIGKILL', 'SIGINT'] as const) {
    it(`${signal} at random points never corrupts .rep, and the next build resumes`, async () => {
      const dir = makeProject({ Repfile: repfile(), 'a.txt': 'a\n' });
      for (const ms of points(signal === 'SIGKILL' ? 11 : 23, 4, 3500)) {
        const code = await killAfter(dir, ms, signal);
        if (signal === 'SIGINT') expect([0, 130]).toContain(code);
        stateIsSound(dir);
        expect(rep(dir, ['status', '--engine', 'none']).code).toBe(0);
      }
      const done = rep(dir, ['build', '--engine', 'docker']);
      expect(done.stderr).toBe('');
      expect(done.code).toBe(0);
      expect(rep(dir, ['status', '-q', '--engine', 'docker']).code).toBe(0);
      expect(existsSync(path.join(dir, '.rep/build.pid'))).toBe(false);
    }, 180_000);
  }
});

describe('the images of a killed build', () => {
  it('a build killed (SIGKILL) after it tagged a step image, before it wrote its state, leaves that image for rep gc to remove', async () => {
    const dir = makeProject({ Repfile: `rep: 1\nname: killed-gc\nbase: busybox:latest\nenv: {TEST_RUN: "${randomUUID()}"}\nsteps:\n  a:\n    run: echo a > /a\n  b:\n    needs: [a]\n    run: sleep 60\n` });
    const status = JSON.parse(rep(dir, ['status', '--json', '--engine', 'docker']).stdout) as { steps: { name: string; key: string }[] };
    const ref = `rep-cache:${status.steps.find((s) => s.name === 'a')!.key.slice('sha256:'.length)}`;
    const has = () => spawnSync(DOCKER_BIN, ['image', 'inspect', ref], { stdio: 'ignore' }).status === 0;
    try {
      // Its own process group: the docker client building step b goes with it.
      const child = spawn(process.execPath, [CLI, 'build', '--engine', 'docker'], { cwd: dir, env: { ...process.env, CI: '1' }, stdio: 'ignore', detached: true });
      const exited = new Promise((r) => child.on('exit', r));
      const deadline = Date.now() + 60_000;
      while (!has() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(has()).toBe(true);
      process.kill(-child.pid!, 'SIGKILL');
      await exited;
      expect(existsSync(path.join(dir, '.rep/state.json'))).toBe(false);
      const gc = rep(dir, ['gc', '--engine', 'docker']);
      expect([gc.code, gc.stderr]).toEqual([0, '']);
      // Removed, or only untagged: the classic builder keeps the half-made image of step b, built on a's, untagged.
      expect(gc.stdout).toMatch(new RegExp(`^(removed ${ref} |untagged ${ref}: its image stays)`, 'm'));
      expect(has()).toBe(false);
      expect(readFileSync(path.join(dir, '.rep/history.jsonl'), 'utf8')).not.toContain('"pending"');
    } finally {
      spawnSync(DOCKER_BIN, ['image', 'rm', '-f', ref], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('a cloned repository with a crafted .rep/', () => {
  it('rep build writes the step log over a planted .rep/logs/STEP.log link, never through it', () => {
    const victimDir = mkdtempSync(path.join(tmpdir(), 'rep-victim-'));
    const victim = path.join(victimDir, 'target');
    writeFileSync(victim, 'precious\n');
    const tag = 'rep-test/planted-log:latest';
    const dir = makeProject({
      Repfile: `rep: 1\nname: planted\nbase: busybox:latest\nsteps:\n  app:\n    run: echo built-${randomUUID()}\nimage:\n  tag: ${tag}\n`,
      '.rep/logs/app.log': { link: victim },
    });
    try {
      const r = rep(dir, ['build'], { CI: '1' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      const log = path.join(dir, '.rep/logs/app.log');
      expect(lstatSync(log).isFile()).toBe(true);
      expect(readFileSync(log, 'utf8')).toMatch(/^# rep-cache:[0-9a-f]{64}\n/);
    } finally {
      const state = path.join(dir, '.rep/state.json');
      const keys = existsSync(state) ? Object.values(JSON.parse(readFileSync(state, 'utf8')).steps as Record<string, { key: string }>).map((s) => s.key) : [];
      for (const k of keys) sh(DOCKER_BIN, ['image', 'rm', '-f', `rep-cache:${k.replace(/^sha256:/, '')}`]);
      sh(DOCKER_BIN, ['image', 'rm', '-f', tag]);
      rmSync(dir, { recursive: true, force: true });
      rmSync(victimDir, { recursive: true, force: true });
    }
  }, 120_000);
});
