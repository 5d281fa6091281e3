// The CI cache: a second, fresh Docker daemon (its own socket, data root and
// bridge; see daemon.ts) reuses the step images a first one built, through the
// local registry or a cache folder, and builds only what changed.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, rep } from '../helpers.js';
import { startSecondDaemon, type SecondDaemon } from './daemon.js';
import { DEBIAN_DOCKER, DOCKER_BIN, sh } from './helpers.js';

const REGISTRY = '127.0.0.1:5000';
let daemon: SecondDaemon | undefined;
let second: NodeJS.ProcessEnv;

async function waitFor(check: () => boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  daemon = await startSecondDaemon();
  second = daemon.env;
  // The same base image, as a fresh CI runner would have it from its own pull.
  const save = spawn(DOCKER_BIN, ['save', 'busybox:latest'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const load = spawn(DOCKER_BIN, ['load'], { env: { ...process.env, ...second }, stdio: ['pipe', 'ignore', 'inherit'] });
  save.stdout.pipe(load.stdin);
  await new Promise((r) => load.on('exit', r));
}, 120_000);

/** What the tests leave in the host's daemon and registry, and on disk, for afterAll to remove. */
const images = new Set<string>();
const pushed = new Map<string, Set<string>>();
const folders: string[] = [];

/** Remembers what a build in the host's daemon made: its step images, the tagged image, the cache tags. */
function madeBy(dir: string, cacheRepo?: string): void {
  const state = JSON.parse(readFileSync(path.join(dir, '.rep/state.json'), 'utf8')) as { steps: Record<string, { key: string }> };
  for (const { key } of Object.values(state.steps)) {
    const hex = key.replace(/^sha256:/, '');
    images.add(`rep-cache:${hex}`);
    if (cacheRepo) {
      images.add(`${cacheRepo}:${hex}`);
      if (!pushed.has(cacheRepo)) pushed.set(cacheRepo, new Set());
      pushed.get(cacheRepo)!.add(hex);
    }
  }
  // The final image (rep-test/cached:latest and its own rep-cache tag), by id.
  images.add(sh(DOCKER_BIN, ['image', 'inspect', '--format', '{{.Id}}', 'rep-test/cached:latest']).trim());
}

/** Deletes the manifests a test pushed to the local registry (blobs go at its next garbage collection). */
async function unpush(repo: string, tags: Iterable<string>): Promise<void> {
  const [host, ...name] = repo.split('/');
  const accept = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';
  for (const tag of tags) {
    const head = await fetch(`http://${host}/v2/${name.join('/')}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: accept } });
    const digest = head.headers.get('docker-content-digest');
    if (digest) await fetch(`http://${host}/v2/${name.join('/')}/manifests/${digest}`, { method: 'DELETE' });
  }
}

// Only the second daemon goes: the host's daemon and its docker0 are left as they were, less this file's own images.
afterAll(async () => {
  await daemon?.stop();
  if (images.size) spawnSync(DOCKER_BIN, ['image', 'rm', '-f', ...images], { stdio: 'ignore' });
  for (const [repo, tags] of pushed) await unpush(repo, tags);
  for (const f of folders) rmSync(f, { recursive: true, force: true });
}, 120_000);

/** A project folder, removed after the file's tests. */
function project(): string {
  const dir = makeProject(tree());
  folders.push(dir);
  return dir;
}

const repfile = () => `rep: 1
name: cached
base: busybox:latest
env: {TEST_RUN: "${randomUUID()}"}
steps:
  deps:
    inputs: [deps.txt]
    run: cp deps.txt /deps && sleep 1
  data:
    from: busybox:latest
    inputs: [data/]
    run: mkdir -p /out && sort data/in.txt > /out/sorted.txt
    outputs: [/out/sorted.txt]
  app:
    needs: [deps, data]
    inputs: [src/]
    run: cat /deps /out/sorted.txt src/msg > /app.out
image:
  tag: rep-test/cached:latest
  cmd: [cat, /app.out]
`;

const tree = () => ({ Repfile: repfile(), 'deps.txt': 'deps\n', 'data/in.txt': 'b\na\n', 'src/msg': 'hello\n' });

/** A fresh checkout of the same project: no .rep. */
function checkout(dir: string): string {
  const to = mkdtempSync(path.join(tmpdir(), 'rep-checkout-'));
  folders.push(to);
  cpSync(dir, to, { recursive: true, filter: (src) => !src.includes(`${path.sep}.rep`) });
  return to;
}

const lines = (out: string, word: string) => out.split('\n').filter((l) => l.startsWith(word)).map((l) => l.split(/\s+/)[1]);

describe('CI cache across two docker daemons', () => {
  it('registry://: a fresh daemon pulls every step instead of building it; after one change only that step runs', () => {
    const cache = `registry://${REGISTRY}/rep-test/cache-${randomUUID().slice(0, 8)}`;
    const first = project();
    const a = rep(first, ['build', '--engine', 'docker', '--network', 'host', '--cache-to', cache]);
    madeBy(first, cache.slice('registry://'.length));
    expect(a.code).toBe(0);
    expect(lines(a.stdout, 'built').sort()).toEqual(['app', 'data', 'deps']);
    expect(a.stdout).toContain(`cache   3 steps to ${cache}\n`);

    const runner = checkout(first);
    const b = rep(runner, ['build', '--engine', 'docker', '--network', 'host', '--cache-from', cache], second);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    expect(lines(b.stdout, 'built')).toEqual([]);
    expect(lines(b.stdout, 'pulled').sort()).toEqual(['app', 'data', 'deps']);
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', '--network', 'host', 'rep-test/cached:latest'], { env: second })).toBe('deps\na\nb\nhello\n');

    writeFileSync(path.join(runner, 'src/msg'), 'changed\n');
    const c = rep(runner, ['build', '--engine', 'docker', '--network', 'host', '--cache-from', cache], second);
    expect(c.code).toBe(0);
    expect(lines(c.stdout, 'built')).toEqual(['app']);
    expect(sh(DEBIAN_DOCKER, ['run', '--rm', '--network', 'host', 'rep-test/cached:latest'], { env: second })).toBe('deps\na\nb\nchanged\n');
  });

  it('dir://: the same through a cache folder (as actions/cache keeps it)', () => {
    const outer = mkdtempSync(path.join(tmpdir(), 'rep-cachedir-'));
    folders.push(outer);
    const folder = path.join(outer, 'cache');
    const first = project();
    const a = rep(first, ['build', '--engine', 'docker', '--network', 'host', '--cache-to', `dir://${folder}`]);
    madeBy(first);
    expect(a.code).toBe(0);
    expect(existsSync(path.join(folder, 'rep-cache.tar'))).toBe(true);
    const runner = checkout(first);
    writeFileSync(path.join(runner, 'deps.txt'), 'other deps\n');
    const b = rep(runner, ['build', '--engine', 'docker', '--network', 'host', '--cache-from', `dir://${folder}`], second);
    expect(b.code).toBe(0);
    // deps changed: it and the step built on it run; the other stage comes from the cache.
    expect(lines(b.stdout, 'built').sort()).toEqual(['app', 'deps']);
    expect(lines(b.stdout, 'pulled')).toEqual(['data']);
  });

  it('rejects a cache that is neither registry:// nor dir://', () => {
    const r = rep(project(), ['build', '--engine', 'docker', '--cache-from', 's3://bucket']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('rep: --cache-from s3://bucket: not a cache: use registry://HOST/REPO or dir://PATH\n');
  });

  // Last: it stops the second daemon.
  it('a daemon stopped in the middle of a build gives a clear error, exit 1, and a consistent .rep', async () => {
    const dir = makeProject({ ...tree(), Repfile: repfile().replace('run: cp deps.txt /deps && sleep 1', 'run: cp deps.txt /deps && sleep 60') });
    folders.push(dir);
    const child = spawn(process.execPath, [CLI, 'build', '--engine', 'docker', '--network', 'host'], { cwd: dir, env: { ...process.env, ...second, CI: '1' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(() => out.includes('build   deps'), 'the build to start');
    await new Promise((r) => setTimeout(r, 1500));
    daemon!.kill('SIGKILL');
    expect(await exited).toBe(1);
    expect(out).toMatch(/failed  deps: the docker engine stopped answering during the build: is its daemon running\?/);
    expect(out).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(dir, '.rep/build.pid'))).toBe(false);
    const st = rep(dir, ['status', '--engine', 'none']);
    expect(st.code).toBe(0);
  }, 120_000);
});
