// The examples build with rep and do what they say.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, rep } from '../helpers.js';
import { DOCKER_BIN, sh } from './helpers.js';

const REDIS_PORT = '16379';
const APP_PORT = '18080';

async function get(url: string, tries = 100): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(url);
      return await r.text();
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('examples/friendlyhello', () => {
  let redis: ReturnType<typeof spawn> | undefined;
  beforeAll(() => {
    redis = spawn('redis-server', ['--port', REDIS_PORT, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  });
  afterAll(() => {
    redis?.kill();
  });

  it('builds with rep build and answers HTTP, counting visits in Redis', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'friendlyhello-'));
    cpSync(path.join(REPO, 'examples/friendlyhello'), dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}.rep`) });
    const r = rep(dir, ['build', '--engine', 'docker', '--network', 'host']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rep: (built \d of 2 steps|nothing to build; all 2 steps fresh) \(docker\); image friendlyhello:latest\n/);
    // The committed Dockerfile is what rep emits.
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toBe(readFileSync(path.join(REPO, 'examples/friendlyhello/Dockerfile'), 'utf8'));

    const cid = sh(DOCKER_BIN, ['run', '-d', '--rm', '--network', 'host', '-e', `PORT=${APP_PORT}`, '-e', 'REDIS_HOST=127.0.0.1', '-e', `REDIS_PORT=${REDIS_PORT}`, 'friendlyhello:latest']).trim();
    try {
      const first = await get(`http://127.0.0.1:${APP_PORT}/`);
      expect(first).toMatch(/^<h3>Hello World!<\/h3><b>Hostname:<\/b> [^<]+<br\/><b>Visits:<\/b> \d+$/);
      const n = Number(/Visits:<\/b> (\d+)/.exec(first)![1]);
      expect(await get(`http://127.0.0.1:${APP_PORT}/`)).toContain(`<b>Visits:</b> ${n + 1}`);
    } finally {
      spawnSync(DOCKER_BIN, ['rm', '-f', cid]);
    }

    // Editing the app rebuilds only the app step (a unique edit, so no earlier run built it).
    writeFileSync(path.join(dir, 'app.py'), `${readFileSync(path.join(dir, 'app.py'), 'utf8')}# edited by test run ${randomUUID()}\n`);
    const st = rep(dir, ['status', '--engine', 'docker']);
    expect(st.stdout).toMatch(/^system  fresh  sha256:[0-9a-f]{12}\napp     stale  input changed: app.py\n$/);
    const again = rep(dir, ['build', '--engine', 'docker', '--network', 'host']);
    expect(again.stdout).toMatch(/^build   app: input changed: app.py\nbuilt   app \([\d.]+s\)\nrep: built 1 of 2 steps \(docker\); image friendlyhello:latest\n/);
  });
});
