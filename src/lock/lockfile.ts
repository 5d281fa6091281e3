// Repfile.lock: every base image pinned to the registry digest it had when
// `rep lock` ran. Committed next to the Repfile; builds then use name@sha256:….
import path from 'node:path';
import { isJsonMap, JsonDepthError, prettyJson, shallowJson } from '../canonical.js';
import { clip, fail, ok, type Result } from '../diag.js';
import type { Dag } from '../graph/dag.js';
import { writeFileAtomic } from '../state/files.js';
import { readBounded, TEXT_LIMIT } from '../safefs.js';
import { imageRefProblem, parseImageRef, pinned } from './reference.js';

export const LOCK_VERSION = 1;

export interface Lockfile {
  lockVersion: number;
  /** Image reference as written in the Repfile -> its manifest digest. */
  images: Record<string, string>;
}

export const lockPath = (repfilePath: string) => path.join(path.dirname(repfilePath), 'Repfile.lock');

/** A digest as a lock holds it: what docker and podman take after @ in FROM. */
export const LOCK_DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * What is wrong with `value` as a lock, or undefined. A lock comes with the
 * repository or the bundle, and its digests end up in FROM lines: every key
 * must be an image reference and every value a sha256 digest, nothing else.
 */
export function lockProblem(value: unknown): string | undefined {
  if (!isJsonMap(value) || value.lockVersion !== LOCK_VERSION || !isJsonMap(value.images)) {
    return `not a Repfile.lock of version ${LOCK_VERSION} ({"lockVersion": ${LOCK_VERSION}, "images": {...}}); run rep lock to write it again`;
  }
  for (const [ref, digest] of Object.entries(value.images)) {
    const bad = imageRefProblem(ref);
    if (bad) return `images: ${bad}`;
    // A valid reference may still be long: its digest has no bound.
    const key = `images[${JSON.stringify(clip(ref))}]`;
    if (typeof digest !== 'string' || !LOCK_DIGEST.test(digest)) {
      // Only a string is quoted: String() of a list nested a million deep overflows the stack.
      const said = typeof digest === 'string' ? JSON.stringify(digest.slice(0, 100)) : `a ${Array.isArray(digest) ? 'list' : digest === null ? 'null' : typeof digest}`;
      return `${key}: ${said} is not a digest (sha256: and 64 hex digits); run rep lock to write it again`;
    }
    // A reference that names its digest is built from that one: a lock naming another would build what the Repfile does not say.
    const own = parseImageRef(ref).digest;
    if (own !== undefined && own !== digest) {
      return `${key}: ${JSON.stringify(digest)} is not the digest the reference names; run rep lock to write it again`;
    }
  }
  return undefined;
}

/** Repfile.lock as read: where it is, its bytes (the no-op stamp and the provenance hash them) and what they pin. */
export interface LockRead {
  file: string;
  bytes: Buffer;
  value: Lockfile;
}

/**
 * Repfile.lock (undefined: there is none), read once when a project is opened
 * (and by the quick no-op path, which opens none); an error when it is not a
 * regular file (a link to one is fine), over TEXT_LIMIT or not a valid lock.
 */
export function readLockFile(repfilePath: string, invalidAsNone = false): Result<LockRead | undefined> {
  const file = lockPath(repfilePath);
  const shown = path.relative(process.cwd(), file) || file;
  const r = readBounded(file, { follow: true, limit: TEXT_LIMIT });
  if (!r.ok) return r.code === 'ENOENT' ? ok(undefined) : fail({ file: shown, message: r.message });
  let value: unknown;
  try {
    value = shallowJson(r.bytes.toString('utf8'));
  } catch (e) {
    const why = e instanceof JsonDepthError ? `nested more than ${e.maxDepth} levels deep, which no lock is` : 'not JSON';
    return invalidAsNone ? ok(undefined) : fail({ file: shown, message: `${why}; run rep lock to write it again` });
  }
  const bad = lockProblem(value);
  if (bad) return invalidAsNone ? ok(undefined) : fail({ file: shown, message: bad });
  return ok({ file, bytes: r.bytes, value: value as Lockfile });
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

/** The digest the lock pins `ref` to: its own member only (a base named "constructor" is not Object's). */
export function pinOf(lock: Lockfile | undefined, ref: string): string | undefined {
  return lock && Object.hasOwn(lock.images, ref) ? lock.images[ref] : undefined;
}

/** The reference builds use: pinned to its digest when the lock has one. */
export function resolverFor(lock: Lockfile | undefined): (ref: string) => string {
  return (ref) => {
    const d = pinOf(lock, ref);
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
  return { missing: used.filter((r) => pinOf(lock, r) === undefined), extra: Object.keys(lock.images).filter((r) => !used.includes(r)).sort() };
}

/** Problems of Repfile.lock against the Repfile, one line each (none when there is no lock or it matches), as `rep status` prints them. */
export function lockProblems(dag: Dag, lock: Lockfile | undefined): string[] {
  const c = checkLock(dag, lock);
  if (!c) return [];
  return [
    ...c.missing.map((r) => `Repfile.lock: "${r}" is not pinned (run rep lock)`),
    ...c.extra.map((r) => `Repfile.lock: pins "${r}", which the Repfile no longer uses (run rep lock)`),
  ];
}
