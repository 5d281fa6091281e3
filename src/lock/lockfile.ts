// Repfile.lock: every base image pinned to the registry digest it had when
// `rep lock` ran. Committed next to the Repfile; builds then use name@sha256:….
import path from 'node:path';
import { prettyJson } from '../canonical.js';
import { fail, ok, type Result } from '../diag.js';
import type { Dag } from '../graph/dag.js';
import { readJsonFile, writeFileAtomic } from '../state/files.js';
import { readBounded, TEXT_LIMIT } from '../safefs.js';
import { pinned } from './reference.js';

export const LOCK_VERSION = 1;

export interface Lockfile {
  lockVersion: number;
  /** Image reference as written in the Repfile -> its manifest digest. */
  images: Record<string, string>;
}

export const lockPath = (repfilePath: string) => path.join(path.dirname(repfilePath), 'Repfile.lock');

/** The lock's bytes (undefined: no lock); an error when it is not a regular file (a link to one is fine) or over TEXT_LIMIT. */
export function readLockBytes(repfilePath: string): Result<Buffer | undefined> {
  const file = lockPath(repfilePath);
  const r = readBounded(file, { follow: true, limit: TEXT_LIMIT });
  if (r.ok) return ok(r.bytes);
  if (r.code === 'ENOENT') return ok(undefined);
  return fail({ file: path.relative(process.cwd(), file) || file, message: r.message });
}

/** The lock, or undefined when there is none or it cannot be read as one (read as readLockBytes reads it). */
export function readLock(repfilePath: string): Lockfile | undefined {
  return readJsonFile<Lockfile>(lockPath(repfilePath), (l) => l.lockVersion === LOCK_VERSION, { follow: true, limit: TEXT_LIMIT });
}

export function writeLock(repfilePath: string, lock: Lockfile): void {
  writeFileAtomic(lockPath(repfilePath), prettyJson(lock));
}

/** Every image the Repfile starts a stage from, sorted. */
export function baseImages(dag: Dag): string[] {
  const refs = new Set<string>();
  for (const n of dag.nodes.values()) if (n.parent.kind === 'image') refs.add(n.parent.ref);
  return [...refs].sort();
}

/** The reference builds use: pinned to its digest when the lock has one. */
export function resolverFor(lock: Lockfile | undefined): (ref: string) => string {
  return (ref) => {
    const d = lock?.images[ref];
    return d ? pinned(ref, d) : ref;
  };
}

export interface LockCheck {
  /** Images the Repfile uses that the lock does not pin. */
  missing: string[];
  /** Pins for images the Repfile no longer uses. */
  extra: string[];
}

/** Whether the lock matches the Repfile (undefined when there is no lock). */
export function checkLock(dag: Dag, lock: Lockfile | undefined): LockCheck | undefined {
  if (!lock) return undefined;
  const used = baseImages(dag);
  return { missing: used.filter((r) => !(r in lock.images)), extra: Object.keys(lock.images).filter((r) => !used.includes(r)).sort() };
}
