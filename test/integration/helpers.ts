// Helpers for tests that build real images with a real engine.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BuildEvent } from '../../src/scheduler/events.js';
import { build, type BuildRecord } from '../../src/build.js';
import { CliEngine } from '../../src/engine/cli.js';
import { readFilesystemTar } from '../../src/publish/filesystem.js';
import { open } from '../helpers.js';

export const DOCKER_BIN = process.env.REP_DOCKER || 'docker';
/** Debian's own client, which has BuildKit without the buildx plugin. */
export const DEBIAN_DOCKER = '/usr/bin/docker';

export const docker = () => new CliEngine({ flavor: 'docker' });
export const dockerBuildKit = () => new CliEngine({ flavor: 'docker', bin: DEBIAN_DOCKER, buildkit: true });
export const podman = () => new CliEngine({ flavor: 'podman' });
/**
 * podman run sets rlimits explicitly; here (runc in this sandbox) only values
 * within the sandbox's own limits are allowed, so tests name them.
 */
export const PODMAN_RUN = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];

export function sh(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = spawnSync(bin, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, input: opts.input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export interface Built {
  record: BuildRecord;
  events: BuildEvent[];
  /** Steps the engine built. */
  built: string[];
  /** What the failed steps said (step, exit code, error, log tail), for an assertion's message; '' when none failed. */
  failed: string;
}

/** The failed steps of a build's events, as one text a failing assertion prints. */
function failures(events: BuildEvent[]): string {
  return events
    .flatMap((e) => (e.type === 'step-failed' ? [`${e.step}: exit ${e.exitCode}${e.error ? `: ${e.error}` : ''}${e.engineDown ? ` (engine: ${e.engineDown})` : ''}\n  ${e.tail.join('\n  ')}`] : []))
    .join('\n');
}

export async function buildIn(dir: string, engine: CliEngine, opts: { jobs?: number; network?: string } = {}): Promise<Built> {
  const events: BuildEvent[] = [];
  const r = await build(open(dir), { engine, jobs: opts.jobs ?? 4, network: opts.network, onEvent: (e) => events.push(e) });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return { record: r.value, events, built: events.flatMap((e) => (e.type === 'step-built' ? [e.step] : [])), failed: failures(events) };
}

/**
 * Every path of an image's filesystem with its type, mode, owner and content
 * hash (timestamps and what the engine puts into every container left out),
 * from `ENGINE export` of a container, read as publish reads it.
 */
export async function imageFiles(bin: string, ref: string): Promise<Map<string, string>> {
  const cid = sh(bin, ['create', ref, 'true']).trim().split('\n').pop()!;
  // podman export cannot write to a pipe here (it opens /dev/stdout): read a file instead.
  const file = path.join(tmpdir(), `rep-export-${cid.slice(0, 12)}.tar`);
  try {
    sh(bin, ['export', '-o', file, cid]);
    const files = new Map<string, string>();
    for (const [name, e] of Object.entries(await readFilesystemTar(file))) {
      const what = e.sha256 ?? (e.type === 'symlink' || e.type === 'link' ? `-> ${e.linkname ?? ''}` : '');
      files.set(name, `${e.type} ${e.mode} ${e.uid}:${e.gid} ${what}`);
    }
    return files;
  } finally {
    rmSync(file, { force: true });
    sh(bin, ['rm', '-f', cid]);
  }
}

/** The entries that differ between two file maps, as "path: a | b". */
export function diffFiles(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const p of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (a.get(p) !== b.get(p)) out.push(`${p}: ${a.get(p) ?? '(absent)'} | ${b.get(p) ?? '(absent)'}`);
  }
  return out;
}
