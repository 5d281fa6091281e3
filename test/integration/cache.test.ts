// The CI cache: a second, fresh Docker daemon (its own socket and data root)
// reuses the step images a first one built, through the local registry or a
// cache folder, and builds only what changed. Two daemons cannot share the
// docker0 bridge, so the second has none and every build here uses the host
// network.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, REPO, rep } from '../helpers.js';
import { DEBIAN_DOCKER, DOCKER_BIN, sh } from './helpers.js';

const REGISTRY = '127.0.0.1:5000';
let root: string;
let daemon: ChildProcess | undefined;
let second: NodeJS.ProcessEnv;

async function waitFor(check: () => boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'rep-d2-'));
  const sock = `unix://${root}/docker.sock`;
  daemon = spawn(
    'dockerd',
    ['--host', sock, '--data-root', `${root}/data`, '--exec-root', `${root}/exec`, '--pidfile', `${root}/docker.pid`, '--bridge', 'none', '--iptables=false', '--ip-masq=false'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  daemon.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
  });
  second = { DOCKER_HOST: sock };
  await waitFor(() => spawnSync(DEBIAN_DOCKER, ['info'], { env: { ...process.env, ...second } }).status === 0, `the second dockerd:\n${log.slice(-2000)}`);
  // The same base image, as a fresh CI runner would have it from its own pull.
  const save = spawn(DOCKER_BIN, ['save', 'busybox:latest'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const load = spawn(DOCKER_BIN, ['load'], { env: { ...process.env, ...second }, stdio: ['pipe', 'ignore', 'inherit'] });
  save.stdout.pipe(load.stdin);
  await new Promise((r) => load.on('exit', r));
}, 120_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.on('exit', r));
  }
  spawnSync('sh', ['-c', `grep -o '${root}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l`]);
  rmSync(root, { recursive: true, force: true });
  // A daemon started with --bridge none removes the docker0 bridge the main
  // daemon's containers use; restarting the main daemon makes it again.
  spawnSync('pkill', ['-x', 'dockerd']);
  await waitFor(() => spawnSync('pgrep', ['-x', 'dockerd']).status !== 0, 'dockerd to stop');
  const r = spawnSync('bash', [path.join(REPO, 'scripts/provision.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`provision.sh failed:\n${r.stderr}`);
}, 120_000);

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
  cpSync(dir, to, { recursive: true, filter: (src) => !src.includes(`${path.sep}.rep`) });
  return to;
}

const lines = (out: string, word: string) => out.split('\n').filter((l) => l.startsWith(word)).map((l) => l.split(/\s+/)[1]);

describe('CI cache across two docker daemons', () => {
  it('registry://: a fresh daemon pulls every step instead of building it; after one change only that step runs', () => {
    const cache = `registry://${REGISTRY}/rep-test/cache-${randomUUID().slice(0, 8)}`;
    const first = makeProject(tree());
    const a = rep(first, ['build', '--engine', 'docker', '--network', 'host', '--cache-to', cache]);
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
    const folder = path.join(mkdtempSync(path.join(tmpdir(), 'rep-cachedir-')), 'cache');
    const first = makeProject(tree());
    const a = rep(first, ['build', '--engine', 'docker', '--network', 'host', '--cache-to', `dir://${folder}`]);
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
    const r = rep(makeProject(tree()), ['build', '--engine', 'docker', '--cache-from', 's3://bucket']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('rep: "s3://bucket" is not a cache: use registry://HOST/REPO or dir://PATH\n');
  });

  // Last: it stops the second daemon.
  it('a daemon stopped in the middle of a build gives a clear error, exit 1, and a consistent .rep', async () => {
    const dir = makeProject({ ...tree(), Repfile: repfile().replace('run: cp deps.txt /deps && sleep 1', 'run: cp deps.txt /deps && sleep 60') });
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
    expect(existsSync(path.join(dir, '.rep/lock'))).toBe(false);
    const st = rep(dir, ['status', '--engine', 'none']);
    expect(st.code).toBe(0);
  }, 120_000);
});
