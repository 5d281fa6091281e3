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

function copyExample(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `${name}-`));
  cpSync(path.join(REPO, 'examples', name), dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}.rep`) });
  return dir;
}

describe('examples/r-analysis', () => {
  it('builds R from Debian and computes the summary by decade', () => {
    const dir = copyExample('r-analysis');
    const r = rep(dir, ['build', '--engine', 'docker', '--network', 'host']);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toBe(readFileSync(path.join(REPO, 'examples/r-analysis/Dockerfile'), 'utf8'));
    expect(sh(DOCKER_BIN, ['run', '--rm', 'r-analysis:latest'])).toBe(
      '"decade","mean_mm","max_mm"\n1950,696.5,872\n1960,706.5,879\n1970,716.5,886\n1980,726.5,893\n1990,696.5,863\n2000,666.5,833\n2010,676.5,870\n',
    );
    // New data reruns the data and analysis steps, never the R installation.
    writeFileSync(path.join(dir, 'data/rainfall.csv'), `${readFileSync(path.join(dir, 'data/rainfall.csv'), 'utf8')}2020,${900 + Math.floor(Math.random() * 99)}\n`);
    const again = rep(dir, ['build', '--engine', 'docker', '--network', 'host']);
    expect(again.stdout).toMatch(/^build   data: input changed: data\/rainfall\.csv\nbuilt   data .*\nbuild   analysis: builds on "data", which changed\nbuilt   analysis .*\nrep: built 2 of 3 steps/);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'r-analysis:latest'])).toMatch(/\n2020,9\d\d,9\d\d\n$/);
  });
});

describe('examples/pipeline', () => {
  it('builds the side stage and the statistics, and a change that leaves the cleaned data alike rebuilds only the cleaning', () => {
    const dir = copyExample('pipeline');
    const r = rep(dir, ['build', '--engine', 'docker']);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toBe(readFileSync(path.join(REPO, 'examples/pipeline/Dockerfile'), 'utf8'));
    expect(sh(DOCKER_BIN, ['run', '--rm', 'pipeline:latest'])).toBe('east n=1 total=3 mean=3.00\nnorth n=2 total=24 mean=12.00\nsouth n=2 total=12 mean=6.00\n');
    writeFileSync(path.join(dir, 'raw/week2.csv'), `${readFileSync(path.join(dir, 'raw/week2.csv'), 'utf8')}# checked ${randomUUID()}\n`);
    const cut = rep(dir, ['build', '--engine', 'docker']);
    expect(cut.stdout).toMatch(/^build   clean: input changed: raw\/week2\.csv\nbuilt   clean .*\nrep: built 1 of 3 steps/);
    writeFileSync(path.join(dir, 'raw/week3.csv'), `west,${Math.floor(Math.random() * 1000)}\n`);
    const more = rep(dir, ['build', '--engine', 'docker']);
    expect(more.stdout).toMatch(/^build   clean: input added: raw\/week3\.csv\nbuilt   clean .*\nbuild   stats: outputs of "clean" changed\nbuilt   stats .*\nrep: built 2 of 3 steps/);
    expect(sh(DOCKER_BIN, ['run', '--rm', 'pipeline:latest'])).toContain('west n=1');
  });
});
