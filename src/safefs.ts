// Reading and writing files a cloned repository may have planted: rep reads
// only regular files, up to a bound, and reaches its own files in .rep/ only
// where no link stands in the way (O_NOFOLLOW; a link found where rep's own
// file or folder should be is replaced, never followed). Node has no openat,
// so a folder is checked with lstat just before use: a planted tree is safe;
// a process racing rep with the user's own rights is out of scope.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, readSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import path from 'node:path';
import { goJoin } from './gopath.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;

/** The most rep reads of a file a user writes (Repfile, .dockerignore, Repfile.lock). */
export const TEXT_LIMIT = 4 << 20;
/** The most rep reads of a JSON file, its own in .rep/ or a bundle's: they grow with the context (the stat cache, provenance). */
export const JSON_LIMIT = 256 << 20;

export type ReadResult = { ok: true; bytes: Buffer; size: number } | { ok: false; code: string; message: string };

export interface ReadOptions {
  /** Most bytes read (default TEXT_LIMIT); a larger file is refused, or cut with `head`. */
  limit?: number;
  /** Follow a link at the path, to a regular file only (user files such as a Repfile). Default: never follow. */
  follow?: boolean;
  /** Return the first `limit` bytes of a larger file instead of refusing it. */
  head?: boolean;
  /** Return the last `limit` bytes of a larger file instead of refusing it (its newest lines, for a log). */
  tail?: boolean;
}

/** What a file that is not a regular file is, for messages. */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** 1024 bytes, 1 KiB, 1.5 MiB, 32 GiB: exact when it is a whole number of a unit, else to one decimal. */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[u]}`;
}

const notRegular = (st: Stats): ReadResult => ({ ok: false, code: 'ENOTREG', message: `not a regular file (${kindOf(st)}): rep reads only regular files` });
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code ?? 'EIO';

/**
 * The bytes of `file` if it is a regular file of at most `limit` bytes, read
 * without blocking on a FIFO or opening a device, and no further than the
 * size it has (a /proc file reads as empty). Never throws.
 */
export function readBounded(file: string, opts: ReadOptions = {}): ReadResult {
  const limit = opts.limit ?? TEXT_LIMIT;
  let fd: number;
  try {
    if (opts.follow) {
      const st = statSync(file);
      if (!st.isFile()) return notRegular(st);
    }
    fd = openSync(file, O_RDONLY | O_NONBLOCK | O_NOCTTY | (opts.follow ? 0 : O_NOFOLLOW));
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT') return { ok: false, code, message: 'no such file' };
    if (code === 'ELOOP' && !opts.follow) return { ok: false, code, message: 'a symbolic link: rep does not follow links here' };
    return { ok: false, code, message: `cannot read (${code})` };
  }
  try {
    return readOpen(fd, limit, opts.head ? 'head' : opts.tail ? 'tail' : undefined);
  } finally {
    closeSync(fd);
  }
}

/** The bytes of the regular file open at `fd` (not closed here), bounded as readBounded says; `cut` takes the head or the tail of a larger file. */
export function readOpen(fd: number, limit: number, cut?: 'head' | 'tail'): ReadResult {
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return notRegular(st);
    if (st.size > limit && !cut) return { ok: false, code: 'EFBIG', message: `larger than ${formatSize(limit)}, the most rep reads from this file` };
    const want = Math.min(st.size, limit);
    const from = cut === 'tail' ? st.size - want : 0;
    const bytes = Buffer.allocUnsafe(want);
    let n = 0;
    while (n < want) {
      const r = readSync(fd, bytes, n, want - n, from + n);
      if (r === 0) break;
      n += r;
    }
    return { ok: true, bytes: n === want ? bytes : bytes.subarray(0, n), size: st.size };
  } catch (e) {
    return { ok: false, code: errno(e), message: `cannot read (${errno(e)})` };
  }
}

/**
 * A name beside `file` for a temp file rep writes before it renames or links it into place:
 * `file.PID.HEX.tmp`, random hex no one can foresee, and the pid that removeDeadTemps
 * (state/files.ts) reads to tell a dead process's leftovers.
 */
export const tempBeside = (file: string): string => `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;

/**
 * Why a file rep writes through tempBeside cannot be named `file`: its temporary name is up to 25 bytes longer
 * (`.PID.HEX.tmp`), and a name of 231 to 255 bytes passed every check before the write stopped with ENAMETOOLONG.
 */
export const tempNameProblem = (file: string): string | undefined =>
  Buffer.byteLength(path.basename(file)) > MAX_TEMPED_NAME ? `the file name is too long: rep writes the file through a temporary one beside it, whose name is longer; at most ${MAX_TEMPED_NAME} bytes` : undefined;
const MAX_TEMPED_NAME = 255 - '.4194304.0123456789ab.tmp'.length;

/** Creates `file` exclusively (a link or anything else at its name is an error, EEXIST), for writing. */
export function createExclusive(file: string, mode = 0o666): number {
  return openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
}

/** Writes `file` afresh: whatever is at its name (a link, a pipe, a file, a folder) is removed first, never followed. */
export function writeReplacing(file: string, data: string | Buffer): void {
  // Recursive: a folder planted at a step log's name failed that step on every build (rm does not follow links).
  rmSync(file, { recursive: true, force: true });
  const fd = createExclusive(file);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Appends to `file` without following a link at its name, and only to a
 * regular file with no other name (a hard link to a file elsewhere, which
 * an unpacked archive can plant, is left alone). Best effort (a log): what
 * cannot be written is dropped rather than fail the build.
 */
export function appendNoFollow(file: string, data: string): void {
  try {
    const fd = openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o666);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.nlink !== 1) return;
      const bytes = Buffer.from(data);
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    } finally {
      closeSync(fd);
    }
  } catch {
    // a link or a pipe planted while the build ran, a full disk: the line still reaches the events
  }
}

/** Links followed at most in one path, as Linux does (ELOOP past 40). */
const MAX_LINKS = 40;

/**
 * Where `rel` leads inside `root` when each link on the way is read as if
 * `root` were "/", as BuildKit's FollowPaths chooses what to send of it
 * (fsutil's FollowLinks): a path inside `root`, never outside it, the last
 * part not a link; undefined past MAX_LINKS. What it names may not exist.
 * Paths and link texts are cleaned as text before anything in them is
 * followed: a ".." takes off the part before it, whatever that part is (a
 * link, or nothing), and stops at the root.
 */
export function resolveInRoot(root: string, rel: string): string | undefined {
  // Go's Clean of the path from the root: its parts, ".." stopping at the root.
  const clean = (p: string) => goJoin('/', p).split('/').filter((x) => x !== '');
  let todo = clean(rel);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    const abs = path.join(root, ...done, part);
    const st = lstatQuiet(abs);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = readlinkSync(abs);
      todo = clean([...(target.startsWith('/') ? [] : done), target, ...todo].join('/'));
      done.length = 0;
      continue;
    }
    done.push(part);
    // A part that is not there: nor is the rest.
    if (!st) break;
  }
  return path.join(root, ...done, ...todo);
}

/**
 * The first folder on the way from `root` to `file` (inside it) that is a link or no folder, as a
 * path; undefined when each is a real folder or not there yet (rep makes real ones), or when `file`
 * lies outside `root` (a path the user chose). rep writes its own files in the context (the
 * Dockerfile, the lock) through no link: a cloned repository's `gen -> /etc` had
 * `--dockerfile gen/Dockerfile` written, and temp files removed, there (a review).
 */
export function linkOnTheWayIn(root: string, file: string): string | undefined {
  const rel = path.relative(root, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined;
  let at = root;
  for (const part of rel.split(path.sep).slice(0, -1)) {
    at = path.join(at, part);
    const st = lstatQuiet(at);
    if (!st) return undefined;
    if (!st.isDirectory()) return at;
  }
  return undefined;
}

/**
 * The errnos of a write that say the place takes no file from rep (its permissions, a read-only or full
 * file system); diag.ts errnoWords says each in words.
 */
export const WRITE_REFUSED: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/** lstat, with nothing there where a part of the path is a file (ENOTDIR) or a folder rep may not read. */
export function lstatQuiet(abs: string): Stats | undefined {
  try {
    return lstatSync(abs, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * Where `rel` leads inside `root` as continuity's RootPath reads it (BuildKit reads .dockerignore
 * with it, in what FollowPaths sent): a link's text is joined to the folder the link was found in
 * once that folder's own links are followed, so a ".." after a link goes up from where the link
 * leads. Undefined past 255 links, as RootPath. What it names may not exist.
 */
export function rootPathInRoot(root: string, rel: string): string | undefined {
  let links = 0;
  const walkLink = (p: string): { to: string; link: boolean } => {
    if (links > 255) throw new LinkLoop();
    const at = goJoin('/', p);
    if (at === '/') return { to: at, link: false };
    const st = lstatQuiet(path.join(root, at));
    if (!st?.isSymbolicLink()) return { to: at, link: false };
    links++;
    return { to: readlinkSync(path.join(root, at)), link: true };
  };
  const walkLinks = (p: string): string => {
    const slash = p.lastIndexOf('/');
    const dir = p.slice(0, slash + 1);
    const file = p.slice(slash + 1);
    if (dir === '') return walkLink(file).to;
    if (file === '') return dir === '/' ? dir : walkLinks(dir.slice(0, -1));
    const newdir = walkLinks(dir);
    const r = walkLink(goJoin(newdir, file));
    return !r.link || r.to.startsWith('/') ? r.to : goJoin(newdir, r.to);
  };
  try {
    let p = rel;
    for (;;) {
      const before = links;
      p = walkLinks(p);
      if (before === links) {
        const rooted = goJoin('/', p);
        if (rooted === p) return path.join(root, rooted);
        p = rooted;
      }
    }
  } catch (e) {
    if (e instanceof LinkLoop) return undefined;
    throw e;
  }
}

class LinkLoop extends Error {}

/**
 * The errnos, besides ENOENT, of a path that leads nowhere: a part of it is a file, or it is too long. Nothing
 * is there: a --dockerfile or -C naming one crashed rep with the errno where it looked for a file (a review).
 */
export const LEADS_NOWHERE: ReadonlySet<string> = new Set(['ENOTDIR', 'ENAMETOOLONG']);

/** lstat, undefined when nothing is there (LEADS_NOWHERE too); another errno (a folder rep may not enter) throws. */
function lstatThere(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch (e) {
    if (LEADS_NOWHERE.has(errno(e))) return undefined;
    throw e;
  }
}

/** Whether `p` exists, a link counting as itself (existsSync follows it). */
export function lexists(p: string): boolean {
  return lstatThere(p) !== undefined;
}

/** Whether `p` is a regular file itself, not a link to one. */
export function isRegularFile(p: string): boolean {
  return lstatThere(p)?.isFile() ?? false;
}

/** Whether `dir` is a folder itself, not a link to one. */
export function isRealDir(dir: string): boolean {
  return lstatThere(dir)?.isDirectory() ?? false;
}

/**
 * Makes `dir` a folder of rep's own: created when missing; a link or a file
 * at its name removed first (never followed); a folder kept.
 */
export function ownDir(dir: string): void {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st?.isDirectory()) return;
  if (st) unlinkSync(dir);
  mkdirSync(dir);
}
