// Content hashes of context files. Reads are synchronous, in fixed-size
// chunks (a file is never held whole in memory), and a stat cache keyed by
// (size, mtime, ctime, inode) makes an unchanged tree cost one lstat per file.
// The cache is .rep/statcache.json, written whole now and then, and the rows
// hashed since, appended to .rep/statcache.jsonl: an edit does not rewrite a
// row per file of the context (15 MB at 100k files).
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, readSync, rmSync } from 'node:fs';
import { appendNoFollow, readBounded } from '../safefs.js';
import { readJsonFile, writeFileAtomic } from '../state/files.js';
import { stateDir, statePath } from '../state/paths.js';
import { RACY_MS, stampCtimeMs, stampMtimeMs, type ContextFile } from './files.js';
import { openListedFile } from './listedfile.js';
import { shallowJson } from '../canonical.js';
import type { FileProblem, IoProblem } from '../diag.js';

export interface HashedFile extends ContextFile {
  /** Hex sha256 of the content (for a symlink: of its link text). */
  sha256: string;
}

const CHUNK = 1 << 20;
let chunk: Buffer | undefined;

/**
 * `f` with its hash. Written out field by field: V8 gives each object made as
 * `{ ...f, sha256 }` a hidden class of its own (about 250 bytes, 25 MB at 100k files).
 */
const hashedFile = (f: ContextFile, sha256: string): HashedFile =>
  f.target === undefined
    ? { path: f.path, abs: f.abs, type: f.type, mode: f.mode, size: f.size, stamp: f.stamp, sha256 }
    : { path: f.path, abs: f.abs, type: f.type, mode: f.mode, size: f.size, stamp: f.stamp, target: f.target, sha256 };

/**
 * The sha256 of a file the walk listed, opened as the archive opens it (openListedFile): a link put
 * at its name since is not hashed through (rep hashed a file outside the context), a pipe not waited on
 * (rep hung), each an error (ELOOP, ENOTREG) the caller says with the file's place.
 */
export const sha256Listed = (abs: string): string => sha256Fd(openListedFile(abs).fd);

/** Reads `fd` to its end in chunks, hashing, and closes it. */
function sha256Fd(fd: number): string {
  chunk ??= Buffer.allocUnsafe(CHUNK);
  const h = createHash('sha256');
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      h.update(n === CHUNK ? chunk : chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** What became of a listed file, by the errno of opening it: each the tree changing after the walk (a build running while a script rewrites a folder). */
const RACED: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
  ENOENT: 'was removed after the context was listed',
  // A folder on its way removed and a file put at its name.
  ENOTDIR: 'was removed after the context was listed',
  ELOOP: 'became a link after the context was listed, so rep does not read it',
  ENOTREG: 'became no longer a regular file after the context was listed, so rep does not read it',
});

/**
 * A file of the context rep could stat but not read (mode 000, another
 * user's): thrown from deep in hashing, said by the CLI as the file's
 * problem with its place (exit 2), as the walk says a folder it cannot read.
 * One removed, or replaced by a link or a pipe, after the walk listed it is no
 * mistake in what the user gave but the tree changing under the build: said
 * with its place too, as an `io` problem (exit 1: build again).
 */
export class UnreadableInput extends Error {
  override readonly name = 'UnreadableInput';
  readonly diagnostic: FileProblem | IoProblem;
  constructor(path: string, code: string | undefined) {
    const raced = RACED[code ?? ''];
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'unknown error');
    const message = raced
      ? `${raced}; build again once nothing is changing it`
      : `cannot read it (${why}), so Docker could not send it either; make it readable, or exclude it in .dockerignore`;
    super(`${path}: ${message}`);
    this.diagnostic = raced ? { kind: 'io', file: path, message } : { file: path, message };
  }
}

/** `read(f.abs)`, its errno (unreadable, or the file changed since the walk listed it) an UnreadableInput naming f. */
function readable<T>(f: ContextFile, read: (abs: string) => T): T {
  try {
    return read(f.abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EIO' || code === 'EISDIR' || code === 'ENXIO' || (code !== undefined && code in RACED)) throw new UnreadableInput(f.path, code);
    throw e;
  }
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Files hashed within RACY_MS of their last change (their rows are not kept): a write in the same tick of
 * the file system's clock, the same size, leaves the stamp they were hashed with, so the stamp cannot say
 * that the bytes are still the ones hashed. Kept beside the files, not in them: a field of its own would
 * give every hashed file another hidden class (see hashedFile).
 */
const hashedRacy = new WeakSet<HashedFile>();

/**
 * The first file of `files` that was hashed racy (see hashedRacy) and no longer holds the bytes hashed,
 * read again: a file written while a step was built whose stamp cannot tell (a one-second clock, the same
 * size), which firstChanged (files.ts) passes. Only those files are read again, typically none: any other
 * was hashed when its stamp had already passed the tick of its last write, and a later write moves it.
 * A symlink is never read through: its link text is in its stamp. Undefined when all hold their bytes.
 */
export function firstRehashedOther(files: readonly HashedFile[]): string | undefined {
  for (const f of files) {
    if (f.type !== 'file' || !hashedRacy.has(f)) continue;
    try {
      if (sha256Listed(f.abs) !== f.sha256) return f.path;
    } catch {
      // gone, or unreadable now: not the bytes hashed either
      return f.path;
    }
  }
  return undefined;
}

const CACHE_VERSION = 2;

type CacheRow = [stamp: string, sha256: string];

/**
 * Bytes the log may hold before the cache is written whole again: this
 * many, or a quarter of the whole file's. Counted in bytes, lines that repeat
 * a path or are not rep's count too; a log twice that size is not rep's and
 * is not read.
 */
const LOG_BYTES_MIN = 256 << 10;

/** How a log line that can be a row ends: its hash (lines that cannot are passed over without a parse). */
const ROW_TAIL = /","[0-9a-f]{64}"\]$/;

/** A stamp as StatCache.stamp writes it: a type and five numbers. */
const stampShaped = (stamp: string): boolean => {
  const parts = stamp.split(':');
  return parts.length === 6 && (parts[0] === 'file' || parts[0] === 'symlink') && parts.slice(1).every((n) => n !== '' && Number.isFinite(Number(n)));
};

/** A row rep wrote: a .rep/ committed to a repository may hold anything else, which is left out. */
const validRow = (row: unknown): row is CacheRow => Array.isArray(row) && row.length === 2 && typeof row[0] === 'string' && typeof row[1] === 'string' && /^[0-9a-f]{64}$/.test(row[1]);

/**
 * When a file stamp says the file last changed (ms): its mtime or its ctime, the later. A tool that sets an
 * old mtime on what it writes (touch -d, rsync -t, tar -x) leaves the ctime of the write: by mtime alone
 * such a file written twice within one tick of the clock, the same size and the same mtime, kept the first
 * bytes' hash. NaN when a field is not a number.
 */
const changedMs = (fileStamp: string): number => Math.max(stampMtimeMs(fileStamp), stampCtimeMs(fileStamp));

/** When a row's stamp says its file last changed: its file stamp's (changedMs), after the type (see StatCache.stamp); 0 without one. */
const rowChangedMs = (stamp: string): number => {
  const a = stamp.indexOf(':');
  return a < 0 ? 0 : changedMs(stamp.slice(a + 1));
};

export class StatCache {
  /** The rows as the file holds them, by path, each checked when it is asked for (100k rows at times: checking them all up front was most of reading them). */
  private readonly read: Record<string, unknown>;
  /** Whether there is a whole file to add rows to (else the next save writes one). */
  private whole: boolean;
  /** Bytes the log may hold (see LOG_BYTES_MIN). */
  private readonly logBound: number;
  /** Whether the log was read (or there was none): one that was not is replaced, never added to. */
  private logRead = true;
  /** Rows of the log, newer than the file's; checked as they are read. */
  private readonly logged = new Map<string, CacheRow>();
  /** Rows this cache hashed itself. */
  private readonly rows = new Map<string, CacheRow>();
  /** Files this cache has hashed, by the walk's object: a build hashes the inputs and then the whole context, each once. */
  private readonly done = new WeakMap<ContextFile, HashedFile>();
  private dirty = false;
  /** The paths of the whole context, when this cache hashed it (see hashContext). */
  private live: Set<string> | undefined;
  hits = 0;
  misses = 0;

  /**
   * The cache in `file` and the rows `log` adds to it (read and written
   * without following a link there; a log too large to be rep's is not read);
   * none: in memory only.
   */
  constructor(
    private readonly file?: string,
    private readonly log?: string,
  ) {
    // no cache yet, or unreadable: start empty
    const data = file ? readJsonFile<{ version: number; rows: Record<string, unknown> }>(file, (d) => d.version === CACHE_VERSION && typeof d.rows === 'object' && d.rows !== null && !Array.isArray(d.rows)) : undefined;
    // JSON.parse makes every key an own property, "__proto__" too.
    this.read = data?.rows ?? (Object.create(null) as Record<string, unknown>);
    this.whole = data !== undefined;
    this.logBound = Math.max(LOG_BYTES_MIN, (file && data ? (lstatSync(file, { throwIfNoEntry: false })?.size ?? 0) : 0) / 4);
    if (!data || !log) return;
    const read = readBounded(log, { limit: 2 * this.logBound });
    if (!read.ok) {
      this.logRead = read.code === 'ENOENT';
      return;
    }
    const text = read.bytes.toString('utf8');
    for (let at = 0; at < text.length; ) {
      const end = (text.indexOf('\n', at) + 1 || text.length + 1) - 1;
      const line = text.slice(at, end);
      at = end + 1;
      // Only what can be a row is parsed: a line cut short (a build killed while it appended), or not rep's, is passed over.
      if (!line.startsWith('["') || !ROW_TAIL.test(line)) continue;
      let v: unknown;
      try {
        v = shallowJson(line);
      } catch {
        continue;
      }
      if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && validRow(v.slice(1))) this.logged.set(v[0], [v[1], v[2]]);
    }
  }

  /**
   * The project's cache, in .rep/: read and saved only when .rep is a folder
   * or not there yet (a save makes it). A .rep that is a link (a cloned
   * repository may carry one, leading anywhere) or no folder gives a cache
   * in memory alone: nothing is read through it or written there. Commands
   * that open a project refuse such a .rep; `rep context` needs none.
   */
  static forContext(contextDir: string): StatCache {
    const at = lstatSync(stateDir(contextDir), { throwIfNoEntry: false });
    if (at && !at.isDirectory()) return new StatCache();
    return new StatCache(statePath(contextDir, 'statCache'), statePath(contextDir, 'statCacheLog'));
  }

  /** The row for `p`: this cache's own, or the file's when it is one rep wrote. */
  private row(p: string): CacheRow | undefined {
    const own = this.rows.get(p) ?? this.logged.get(p);
    if (own) return own;
    const row = Object.hasOwn(this.read, p) ? this.read[p] : undefined;
    return validRow(row) ? row : undefined;
  }

  private static stamp(f: ContextFile): string {
    return `${f.type}:${f.stamp}`;
  }

  hash(f: ContextFile): HashedFile {
    const seen = this.done.get(f);
    if (seen) return seen;
    const hashed = this.hashAgain(f);
    this.done.set(f, hashed);
    return hashed;
  }

  private hashAgain(f: ContextFile): HashedFile {
    const stamp = StatCache.stamp(f);
    const row = this.row(f.path);
    if (row && row[0] === stamp) {
      this.hits++;
      return hashedFile(f, row[1]);
    }
    this.misses++;
    const sha256 = f.type === 'symlink' ? sha256Hex(f.target ?? '') : readable(f, sha256Listed);
    const hashed = hashedFile(f, sha256);
    // A file modified too recently may change again within the same stat (racy): its hash is not
    // kept, not even for a save that comes later, when the file would no longer look recent. It
    // alone (the Dockerfile a build just wrote) does not make the cache worth writing again.
    if (Date.now() - changedMs(f.stamp) > RACY_MS) {
      this.rows.set(f.path, [stamp, sha256]);
      this.dirty = true;
    } else hashedRacy.add(hashed);
    return hashed;
  }

  hashAll(files: readonly ContextFile[]): HashedFile[] {
    return files.map((f) => this.hash(f));
  }

  /**
   * hashAll over the whole context, every file the walk found: rows of other
   * paths (files removed, renamed or excluded since) are left out when the
   * cache is next written whole, so that it does not keep a row for every
   * path the project ever had.
   */
  hashContext(files: readonly ContextFile[]): HashedFile[] {
    this.live = new Set(files.map((f) => f.path));
    return this.hashAll(files);
  }

  /**
   * Saves the rows this cache hashed: appended to the log, or, when there is
   * no whole file yet or the log would pass its bound, the whole cache written
   * atomically (sorted by path, leaving out rows rep did not write, and rows
   * of paths the context no longer holds when hashContext saw it whole) and
   * the log removed. Entries modified too recently to trust are left out.
   */
  save(): void {
    if (!this.file || !this.dirty) return;
    const now = Date.now();
    const fresh = (row: CacheRow) => now - rowChangedMs(row[0]) > RACY_MS;
    const added = [...this.rows].filter(([, row]) => fresh(row)).sort(([a], [b]) => (a < b ? -1 : 1));
    this.dirty = false;
    if (added.length === 0) return;
    // Saved once: what this cache hashes from now on is what a later save adds.
    for (const [p, row] of added) {
      this.rows.delete(p);
      this.logged.set(p, row);
    }
    const lines = added.map(([p, row]) => `${JSON.stringify([p, ...row])}\n`).join('');
    // Appended only to a log read whole that is a file of one name (or none yet), within its bound: anything
    // else there (a link, symbolic or hard, a log too large or unreadable) is replaced by a whole write.
    const at = this.log ? lstatSync(this.log, { throwIfNoEntry: false }) : undefined;
    const appendable = !at || (at.isFile() && at.nlink === 1 && this.logRead && at.size + Buffer.byteLength(lines) <= this.logBound);
    if (this.log && this.whole && appendable) {
      appendNoFollow(this.log, lines);
      return;
    }
    const live = this.live;
    const paths = [...new Set([...Object.keys(this.read), ...this.logged.keys()])].filter((p) => live === undefined || live.has(p)).sort((a, b) => (a < b ? -1 : 1));
    // No prototype when a file is named __proto__ (a row like the others); an ordinary object otherwise, which JSON.stringify writes faster.
    const rows = (paths.includes('__proto__') ? Object.create(null) : {}) as Record<string, CacheRow>;
    for (const p of paths) {
      const row = this.row(p);
      // A stamp of another shape matches no file: not written back.
      if (row && fresh(row) && stampShaped(row[0])) rows[p] = row;
    }
    writeFileAtomic(this.file, JSON.stringify({ version: CACHE_VERSION, rows }));
    this.whole = true;
    this.logRead = true;
    // The log's rows are in the file now (a link is removed, not followed; a folder there stays, never read).
    try {
      if (this.log) rmSync(this.log, { force: true });
    } catch {
      // not a file: left as it is
    }
  }
}
