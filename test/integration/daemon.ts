// A second Docker daemon for tests (a fresh CI runner, a rebuild elsewhere),
// started and stopped without touching the host's own: its own socket, data
// root, exec root, pidfile, config file, containerd namespace, cgroup parent
// and network bridge (a daemon started with `--bridge none` deletes the
// host's docker0), and no iptables or sysctl changes. Stopping it ends only
// the processes it started, by pid, and removes its mounts, cgroups, bridge
// and folders. It may also listen on a TCP port of 127.0.0.1 (a remote engine
// as DOCKER_HOST=tcp://... sees it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEBIAN_DOCKER } from './helpers.js';

export interface SecondDaemon {
  /** Environment that points a docker client at this daemon (DOCKER_HOST). */
  env: NodeJS.ProcessEnv;
  /** With `tcp`: DOCKER_HOST=tcp://127.0.0.1:PORT for the same daemon (loopback only, so without TLS). */
  tcpEnv?: NodeJS.ProcessEnv;
  /** The dockerd process's id. */
  pid: number;
  /** Sends `signal` to this dockerd only (e.g. SIGKILL, to see a daemon die mid-build). */
  kill(signal: NodeJS.Signals): void;
  /** Stops it (if still running), waits for it, and removes everything it made. Safe to call twice. */
  stop(): Promise<void>;
}

async function waitFor(check: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

/** A /24 in 10.213.0.0/16 that no interface of the host uses. */
function freeSubnet(): string {
  const used = spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout + spawnSync('ip', ['-4', 'route'], { encoding: 'utf8' }).stdout;
  for (let tries = 0; tries < 50; tries++) {
    const third = 1 + (randomBytes(1)[0]! % 250);
    if (!used.includes(`10.213.${third}.`)) return `10.213.${third}`;
  }
  throw new Error('no free /24 in 10.213.0.0/16 for the second daemon');
}

/**
 * The processes the daemon left (its containerd and shims, once dockerd is
 * gone, are children of init): those whose command line names `root`, which
 * only this daemon's own use, and everything they started (the containers).
 * Live ones only; children listed before parents.
 */
function leftBehind(root: string): number[] {
  const parent = new Map<number, number>();
  const named: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      parent.set(pid, Number(ppid));
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(root)) named.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const visit = (pid: number) => {
    if (out.includes(pid)) return;
    for (const [child, ppid] of parent) if (ppid === pid) visit(child);
    out.push(pid);
  };
  for (const pid of named) visit(pid);
  return out;
}

/** Empty cgroup folders at or under `group` in every hierarchy, deepest first. */
function removeCgroups(group: string): void {
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const top = path.join('/sys/fs/cgroup', h, group);
    const dirs: string[] = [];
    const walk = (d: string) => {
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      dirs.push(d);
      for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    };
    walk(top);
    for (const d of dirs.reverse()) spawnSync('rmdir', [d]);
  }
}

/** Mount points at or under `root`, deepest first. */
function mountsUnder(root: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === root || p.startsWith(`${root}/`)))
    // mountinfo escapes spaces and the like as \040 (our paths have none)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** A TCP port on 127.0.0.1 that nothing listens on now. */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the daemon; with `tcp` it also listens on a loopback TCP port
 * (127.0.0.1 only, never 0.0.0.0: no TLS only because no other host can reach it).
 */
export async function startSecondDaemon(opts: { tcp?: boolean } = {}): Promise<SecondDaemon> {
  const id = randomBytes(3).toString('hex');
  const root = mkdtempSync(path.join(tmpdir(), 'rep-d2-'));
  const bridge = `rep-d2br-${id}`;
  const cgroup = `rep-d2-${id}`;
  const subnet = freeSubnet();
  const sock = `unix://${root}/docker.sock`;
  const tcp = opts.tcp ? `tcp://127.0.0.1:${await freeLoopbackPort()}` : undefined;
  writeFileSync(path.join(root, 'daemon.json'), '{}\n');
  ip(['link', 'add', 'name', bridge, 'type', 'bridge']);
  let daemon: ChildProcess | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      const late = setTimeout(() => daemon!.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(late);
    }
    // dockerd stops its containerd and containers, unless it was killed first: then end those, by pid.
    for (const pid of leftBehind(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    await waitFor(() => leftBehind(root).length === 0, 'the second daemon\'s processes to end', 30_000);
    for (const m of mountsUnder(root)) {
      if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    }
    removeCgroups(cgroup);
    spawnSync('ip', ['link', 'delete', bridge]);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    ip(['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    daemon = spawn(
      'dockerd',
      [
        '--host', sock,
        ...(tcp ? ['--host', tcp] : []),
        '--config-file', path.join(root, 'daemon.json'),
        '--data-root', path.join(root, 'data'),
        '--exec-root', path.join(root, 'exec'),
        '--pidfile', path.join(root, 'docker.pid'),
        '--containerd-namespace', `rep-d2-${id}`,
        '--containerd-plugins-namespace', `rep-d2-${id}-plugins`,
        '--cgroup-parent', cgroup,
        '--bridge', bridge,
        '--iptables=false',
        '--ip-masq=false',
        '--ip-forward=false',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    daemon.stderr!.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const env = { DOCKER_HOST: sock };
    await waitFor(
      () => {
        if (daemon!.exitCode !== null) throw new Error(`the second dockerd exited (${daemon!.exitCode}):\n${log}`);
        return spawnSync(DEBIAN_DOCKER, ['info'], { env: { ...process.env, ...env } }).status === 0;
      },
      `the second dockerd:\n${log}`,
      60_000,
    );
    const d = daemon;
    return { env, ...(tcp ? { tcpEnv: { DOCKER_HOST: tcp } } : {}), pid: d.pid!, kill: (signal) => void d.kill(signal), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
