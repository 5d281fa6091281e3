// The no-op shortcut: when nothing a build depends on has changed since the
// last successful build (Repfile, lock, .dockerignore, every context file by
// its stat, the engine) and every image it made is still there, the answer
// is known without hashing, keying or writing anything.
//
// Light on purpose: `rep build` asks this before loading the rest of rep
// (see commands/quick.ts), so it imports nothing beyond node and the walk.
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { RACY_MS, stampCtimeMs, stampMtimeMs, statLine, type ContextFile } from '../context/files.js';
import { formatDiagnostic } from '../diag.js';
import type { Engine } from '../engine/engine.js';
import { readLockFile } from '../lock/lockfile.js';
import { imageRefProblem } from '../lock/reference.js';
import { KEY_FORMAT } from '../plan/key.js';
import type { Project } from '../project.js';
import { readJsonFile, writeFileAtomic } from '../state/files.js';
import { seal, sealHolds } from '../state/seal.js';
import { canonicalJson } from '../canonical.js';
import { readBounded } from '../safefs.js';
import { stateFileToRead, stateFileToWrite } from '../state/state.js';
import { VERSION } from '../version.js';

/**
 * What the last successful build leaves for the next one to compare against,
 * in .rep/noop.json: a file of its own, small, since state.json holds every
 * input's hash and reading it would cost more than the rest of a no-op.
 */
export interface NoopRecord {
  stamp: string;
  /** The image the tag named after that build. */
  imageId: string;
  /** The image tag, and every step image of that build: all must still be there. */
  tag: string;
  refs: string[];
  /** Each step of that build, in the DAG's order, with its key: what `rep status` shows when the record holds. */
  steps: { name: string; key: string }[];
  /** What `rep status` says of Repfile.lock against the Repfile (both are in the stamp), one line each. */
  lock: string[];
  /** Each base image no digest pins, with the engine's id of it then: the steps on it are another build's once it names another image (a pull). */
  bases: [ref: string, id: string][];
  /**
   * Files of the context modified just before that build read them (within RACY_MS), each with the
   * sha256 the build hashed: a write within the same tick of the file system's clock keeps the stat
   * the stamp holds, so their bytes are checked as well. Absent: none.
   */
  racy?: [path: string, sha256: string][];
  /**
   * The Repfile gives a secret a file: where that file lies can change outside the context (a link
   * moved into it), unseen by the stamp, and the full path checks it before its own no-op answer
   * (scheduler/secrets.ts); the quick path, which parses no Repfile, leaves such a project to it.
   */
  secretFiles?: true;
  /**
   * This user's seal on the rest, for this project (seal.ts): a .rep/ that came with a
   * repository could otherwise hold a record whose stamp matches (a context .dockerignore
   * leaves empty makes it foreseeable) and have `rep build` answer "nothing to build".
   */
  seal?: string;
}

/** A record's fields as its seal covers them. */
const sealedText = ({ seal: _, ...record }: NoopRecord) => `noop\0${canonicalJson(record)}`;
/** What .rep/noop.json may weigh: MAX_NOOP_REFS references and as many steps, with room to spare. */
const NOOP_LIMIT = 1 << 20;

/** Racy files a record may name, and their bytes in all: past either, a build leaves no record (the next one plans). */
export const MAX_RACY = 256;
const RACY_BYTES = 64 << 20;

/**
 * The racy files of `files` (the context as stamped: see NoopRecord.racy), modified at or after
 * `readFrom` less RACY_MS, each with its sha256 from `hashes`; undefined when one has none known
 * or there are too many to check quickly.
 */
export function racyFiles(files: readonly ContextFile[], readFrom: number, hashes: ReadonlyMap<string, string>): [string, string][] | undefined {
  const racy: [string, string][] = [];
  let bytes = 0;
  for (const f of files) {
    // A link's text is in the stamp itself.
    // By mtime or ctime: a tool that sets an old mtime on what it writes (touch -d, rsync -t) leaves the ctime of the write.
    if (f.type !== 'file' || !(Math.max(stampMtimeMs(f.stamp), stampCtimeMs(f.stamp)) >= readFrom - RACY_MS)) continue;
    const sha256 = hashes.get(f.path);
    bytes += f.size;
    if (sha256 === undefined || racy.length === MAX_RACY || bytes > RACY_BYTES) return undefined;
    racy.push([f.path, sha256]);
  }
  return racy;
}

/** Whether each racy file of a record still holds the bytes its build hashed (read without following a link). */
export function racyFilesHold(contextDir: string, record: NoopRecord): boolean {
  return (record.racy ?? []).every(([rel, sha256]) => {
    const r = readBounded(path.join(contextDir, rel), { limit: RACY_BYTES });
    return r.ok && r.size === r.bytes.length && createHash('sha256').update(r.bytes).digest('hex') === sha256;
  });
}

/** Everything a no-op build depends on, as read from disk and the engine. */
export interface StampInput {
  /** Engine.identity(): name and server version. */
  engine: string;
  /** Absolute paths of the standalone Dockerfile and the Repfile. */
  dockerfile: string;
  repfile: string;
  /** sha256 (hex) of the Repfile's bytes; the lock file's bytes (undefined: none); the .dockerignore text. */
  repfileSha256: string;
  lockBytes: Buffer | undefined;
  ignoreText: string;
  /** The context as walked: each file by its stat. */
  files: readonly ContextFile[];
  /**
   * Whether the build leaves the image the canonical rewrite makes (not with
   * --no-reproducible): a build after one without it has the rewrite to do.
   */
  canonical: boolean;
}

/** Bump when what goes into the stamp changes, so old stamps never match. */
const STAMP_FORMAT = 5;

export function noopStamp(i: StampInput): string {
  const h = createHash('sha256');
  h.update(`${STAMP_FORMAT}\0${VERSION}\0${KEY_FORMAT}\0${i.engine}\0${i.dockerfile}\0${i.repfile}\0${i.repfileSha256}\0`);
  h.update(i.lockBytes ?? '');
  h.update(`\0${i.lockBytes ? 1 : 0}\0${i.canonical ? 1 : 0}\0${i.ignoreText}\0`);
  for (const f of i.files) h.update(statLine(f));
  return h.digest('hex');
}

/**
 * How a build of `project` stamps a context (its files) for the no-op record,
 * or undefined when the build can leave none: with engine none, a dry run, a
 * cache export or a phony step, every build has something to do.
 */
export async function noopStamper(
  project: Project,
  engine: Engine,
  dockerfile: string,
  opts: { dryRun?: boolean; cacheTo?: unknown; reproducible?: boolean },
): Promise<((files: readonly ContextFile[]) => string) | undefined> {
  if (engine.name === 'none' || opts.dryRun || opts.cacheTo || project.dag.recipe.steps.some((s) => s.phony)) return undefined;
  const described = await engine.identity();
  return (files) =>
    noopStamp({
      engine: described,
      dockerfile,
      repfile: project.recipe.path,
      repfileSha256: project.recipe.sha256,
      lockBytes: project.lock?.bytes,
      ignoreText: project.ctx.ignoreText,
      files,
      canonical: opts.reproducible !== false,
    });
}

/**
 * The last successful build's no-op record when it still answers this one:
 * the same stamp, the Dockerfile still there, every image it made still in
 * the engine (asked in one call).
 */
export async function noopStillHolds(contextDir: string, stamp: string, dockerfile: string, engine: Pick<Engine, 'imageIds'>): Promise<NoopRecord | undefined> {
  const noop = readNoop(contextDir);
  if (!noop || noop.stamp !== stamp || !existsSync(dockerfile) || !racyFilesHold(contextDir, noop)) return undefined;
  return noopImagesHold(noop, await engine.imageIds(noopRefs(noop))) ? noop : undefined;
}

/** Every image a no-op record names: its tag, the step images, the bases (one engine call asks them all). */
export const noopRefs = (noop: NoopRecord): string[] => [noop.tag, ...noop.refs, ...noop.bases.map(([ref]) => ref)];

/**
 * The bytes of the Repfile's lock file, undefined when there is none; throws
 * when it cannot be read (see readLockFile). For the quick path, which opens
 * no project: a build takes them from `project.lock`.
 */
export function lockBytes(repfile: string): Buffer | undefined {
  const r = readLockFile(repfile);
  if (!r.ok) throw new Error(formatDiagnostic(r.errors[0]!));
  return r.value?.bytes;
}

/** Whether the images a no-op record names are all still there, the tag naming the same image. */
export function noopImagesHold(record: NoopRecord, ids: ReadonlyMap<string, string | undefined>): boolean {
  const same = (a: string | undefined, b: string) => a !== undefined && a.replace(/^sha256:/, '') === b.replace(/^sha256:/, '');
  return ids.get(record.tag) === record.imageId && record.refs.every((r) => ids.get(r) !== undefined) && record.bases.every(([ref, id]) => same(ids.get(ref), id));
}

/** References a no-op record may name (the Repfile's step images and bases); one with more is no record. */
export const MAX_NOOP_REFS = 1000;

/** Whether `x` (as read from .rep/) is a complete no-op record. */
export function isNoopRecord(x: unknown): x is NoopRecord {
  const r = x as NoopRecord;
  return (
    typeof r === 'object' && r !== null &&
    typeof r.stamp === 'string' && typeof r.imageId === 'string' && typeof r.tag === 'string' && imageRefProblem(r.tag) === undefined &&
    // The references go to the engine's API (quick.ts asks for them before the stamp is compared): each an
    // image reference, and not more than a record of a real project names.
    Array.isArray(r.refs) && r.refs.length <= MAX_NOOP_REFS && r.refs.every((x) => typeof x === 'string' && imageRefProblem(x) === undefined) &&
    Array.isArray(r.steps) && r.steps.every((x) => typeof x === 'object' && x !== null && typeof x.name === 'string' && typeof x.key === 'string') &&
    Array.isArray(r.lock) && r.lock.every((x) => typeof x === 'string') &&
    Array.isArray(r.bases) && r.refs.length + r.bases.length <= MAX_NOOP_REFS &&
    r.bases.every((b) => Array.isArray(b) && b.length === 2 && typeof b[0] === 'string' && imageRefProblem(b[0]) === undefined && typeof b[1] === 'string' && /^(sha256:)?[0-9a-f]{64}$/.test(b[1])) &&
    (r.racy === undefined || (Array.isArray(r.racy) && r.racy.length <= MAX_RACY && r.racy.every(isRacyEntry))) &&
    (r.secretFiles === undefined || r.secretFiles === true)
  );
}

/** A context path (relative, slash-separated, no "." or ".." part) and a hex sha256. */
const isRacyEntry = (e: unknown): boolean =>
  Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string' && /^[0-9a-f]{64}$/.test(e[1]) &&
  e[0].length > 0 && e[0].length <= 4096 && !e[0].includes('\0') && e[0].split('/').every((p: string) => p !== '' && p !== '.' && p !== '..');

/** The last build's record, when this user's rep made it for this project (sealed), else undefined. */
export function readNoop(contextDir: string): NoopRecord | undefined {
  const file = stateFileToRead(contextDir, 'noop');
  const read = file ? readJsonFile<NoopRecord>(file, isNoopRecord, { limit: NOOP_LIMIT }) : undefined;
  if (!read) return undefined;
  // The fields rep writes, and no other, before anything walks it: a field more nested 400k deep overflowed the stack.
  const record: NoopRecord = { stamp: read.stamp, imageId: read.imageId, tag: read.tag, refs: read.refs, steps: read.steps.map(({ name, key }) => ({ name, key })), lock: read.lock, bases: read.bases.map(([ref, id]) => [ref, id]), ...(read.racy ? { racy: read.racy.map(([p, h]) => [p, h]) } : {}), ...(read.secretFiles ? { secretFiles: true } : {}) };
  return sealHolds(contextDir, sealedText(record), read.seal) ? { ...record, seal: read.seal } : undefined;
}

/** Writes the record (atomically), or removes it when a build is about to change what it describes. */
export function writeNoop(contextDir: string, record: NoopRecord | undefined): void {
  // Without a key of this user's nothing is sealed, and an unsealed record is never believed: none is left.
  const mark = record && seal(contextDir, sealedText(record));
  if (record && mark) writeFileAtomic(stateFileToWrite(contextDir, 'noop'), `${JSON.stringify({ ...record, seal: mark }, null, 2)}\n`);
  else {
    const file = stateFileToRead(contextDir, 'noop');
    if (file) rmSync(file, { force: true });
  }
}
