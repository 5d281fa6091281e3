// rep as an unprivileged user with rootless podman, the HPC case: no root
// daemon, no network device for containers (slirp4netns cannot open
// /dev/net/tun here, so builds use --network none). The test makes a user with
// subordinate uid/gid ranges (newuidmap from uidmap), loads busybox into that
// user's own image storage, and runs rep build, publish and verify --rebuild as
// that user. The user, its processes and its storage are removed afterwards.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from '../helpers.js';
import { PODMAN_RUN, sh } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const USER = `reprl${randomUUID().slice(0, 8)}`;
// Outside the run's TMPDIR, which only root may enter.
const HOME = `/tmp/rep-rootless-${USER}`;
const RUNTIME = path.join(HOME, 'run');
let made = false;

/** Runs a command as the user, in `cwd`, with an environment of its own (nothing of root's). */
function asUser(args: string[], cwd = HOME) {
  const env = ['HOME=' + HOME, 'XDG_RUNTIME_DIR=' + RUNTIME, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CI=1', 'NO_COLOR=1'];
  const r = spawnSync('runuser', ['-u', USER, '--', 'env', '-i', ...env, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const rep = (args: string[], cwd: string) => asUser([process.execPath, CLI, ...args], cwd);

const userPids = () => spawnSync('ps', ['-u', USER, '-o', 'pid='], { encoding: 'utf8' }).stdout.split('\n').map((s) => s.trim()).filter(Boolean);

afterAll(async () => {
  if (!made) return;
  // The user's processes (podman's pause process keeps its namespace), each by pid; userdel
  // refuses a user that still runs one, so wait for them to be gone (a bounded number of times).
  for (let i = 0; i < 100 && userPids().length; i++) {
    for (const pid of userPids()) spawnSync('kill', ['-9', pid]);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const del = spawnSync('userdel', [USER], { encoding: 'utf8' });
  rmSync(HOME, { recursive: true, force: true });
  if (del.status !== 0) throw new Error(`userdel ${USER} failed: ${del.stderr}`);
});

describe.skipIf(!isRoot)('rootless podman (as an unprivileged user)', () => {
  it('builds the pipeline example, publishes it with its image and rebuilds the bundle to the same files, as that user', () => {
    sh('useradd', ['--create-home', '--home-dir', HOME, '--shell', '/bin/sh', USER]);
    made = true;
    // useradd gives subordinate ranges when login.defs says so (Debian's does); otherwise add one.
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      if (!readFileSync(f, 'utf8').split('\n').some((l) => l.startsWith(`${USER}:`))) sh('usermod', [f === '/etc/subuid' ? '--add-subuids' : '--add-subgids', '300000-365535', USER]);
    }
    mkdirSync(RUNTIME);
    chmodSync(RUNTIME, 0o700);
    // The user's storage has no images: busybox comes from root's podman, as an archive.
    const busybox = path.join(HOME, 'busybox.tar');
    sh('podman', ['save', '-o', busybox, 'docker.io/library/busybox:latest']);
    const project = path.join(HOME, 'pipeline');
    cpSync(path.join(REPO, 'examples', 'pipeline'), project, { recursive: true, filter: (src) => !src.includes(`${path.sep}.rep`) });
    sh('chown', ['-R', `${USER}:${USER}`, HOME]);

    expect(asUser(['podman', 'info', '--format', '{{.Host.Security.Rootless}}']).stdout.trim()).toBe('true');
    const loaded = asUser(['podman', 'load', '-i', busybox]);
    expect(loaded.code, loaded.stderr).toBe(0);

    const built = rep(['build', '--engine', 'podman', '--network', 'none'], project);
    expect(built.code, built.stderr + built.stdout).toBe(0);
    expect(built.stdout.trim().split('\n').at(-1)).toBe('rep: built 3 of 3 steps (podman); image pipeline:latest');
    const ran = asUser(['podman', 'run', '--rm', '--network', 'none', ...PODMAN_RUN, 'pipeline:latest']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe('east n=1 total=3 mean=3.00\nnorth n=2 total=24 mean=12.00\nsouth n=2 total=12 mean=6.00\n');
    // The image is the user's: root's podman storage is not where it went.
    expect(existsSync(path.join(HOME, '.local', 'share', 'containers', 'storage'))).toBe(true);

    const bundle = path.join(HOME, 'bundle');
    const published = rep(['publish', '--engine', 'podman', '--network', 'none', '--image', '-o', bundle], project);
    expect(published.code, published.stderr + published.stdout).toBe(0);
    for (const f of ['image.oci.tar', 'sbom.cdx.json']) expect(existsSync(path.join(bundle, f)), f).toBe(true);
    const verified = rep(['verify', bundle, '--rebuild', '--engine', 'podman'], HOME);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain('ok      rebuild');
    expect(verified.stdout.trim().split('\n').at(-1)).toBe('rep: bundle verified');
  });
});
