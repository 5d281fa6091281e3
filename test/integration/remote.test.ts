// A remote engine: DOCKER_HOST=tcp://127.0.0.1:PORT naming a second daemon
// (test/integration/daemon.ts, listening on loopback only). rep builds through
// it: the image and its step images are in that daemon and not in the host's.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, rep } from '../helpers.js';
import { startSecondDaemon, type SecondDaemon } from './daemon.js';
import { fresh } from './engine-suite.js';
import { DOCKER_BIN } from './helpers.js';

let daemon: SecondDaemon | undefined;
let tcp: NodeJS.ProcessEnv;

beforeAll(async () => {
  daemon = await startSecondDaemon({ tcp: true });
  tcp = daemon.tcpEnv!;
  const save = spawn(DOCKER_BIN, ['save', 'busybox:latest'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const load = spawn(DOCKER_BIN, ['load'], { env: { ...process.env, ...daemon.env }, stdio: ['pipe', 'ignore', 'inherit'] });
  save.stdout.pipe(load.stdin);
  await new Promise((r) => load.on('exit', r));
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
});

/** Whether the daemon `env` names (the host's when empty) has the image `ref`. */
const has = (ref: string, env: NodeJS.ProcessEnv = {}) =>
  spawnSync(DOCKER_BIN, ['image', 'inspect', ref], { env: { ...process.env, DOCKER_HOST: '', ...env }, stdio: 'ignore' }).status === 0;

describe('a remote docker engine over tcp (DOCKER_HOST=tcp://127.0.0.1:PORT)', () => {
  it('listens on loopback only', () => {
    expect(tcp.DOCKER_HOST).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
  });

  it('builds there, not in the host daemon, and a second build is a no-op', () => {
    const tag = `rep-test/remote-${process.pid}:1`;
    const dir = makeProject({
      Repfile: `rep: 1\nname: remote\nbase: busybox:latest\nenv: {${fresh()}}\nsteps:\n  one:\n    inputs: [a.txt]\n    run: cp a.txt /a\nimage:\n  tag: ${tag}\n`,
      'a.txt': 'a\n',
    });
    try {
      const r = rep(dir, ['build', '--engine', 'docker'], tcp);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain(`rep: built 1 of 1 steps (docker); image ${tag}`);
      expect(has(tag, tcp)).toBe(true);
      expect(has(tag)).toBe(false);
      const stepKey = (JSON.parse(rep(dir, ['status', '--json', '--engine', 'docker'], tcp).stdout) as { steps: { key: string; state: string }[] }).steps[0]!;
      expect(stepKey.state).toBe('fresh');
      const step = `rep-cache:${stepKey.key.replace('sha256:', '')}`;
      expect(has(step, tcp)).toBe(true);
      expect(has(step)).toBe(false);
      // The quick no-op answer is only for a local socket: the full build finds nothing to do.
      const again = rep(dir, ['build', '--engine', 'docker'], tcp);
      expect(again.stdout).toBe(`rep: nothing to build; all 1 steps fresh (docker); image ${tag}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
