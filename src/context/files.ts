// What the build context holds: files and symlinks, relative to the context
// root, walked the way Docker walks it (pruning excluded directories).
import { lstatSync, readdirSync, readlinkSync, realpathSync, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import { fail, ok, type FileProblem, type Result } from '../diag.js';
import { STATE_DIR } from '../state/paths.js';
import type { DockerIgnore } from './dockerignore.js';
import { goText, utf8Name } from '../utf8.js';


export interface ContextFile {
  /** Slash-separated path relative to the context root. */
  path: string;
  abs: string;
  type: 'file' | 'symlink';
  /** Permission bits (mode & 0o7777). */
  mode: number;
  size: number;
  /**
   * What lstat says that tells one version of the file from another, as
   * text: `size:mtimeMs:ctimeMs:ino:dev` (times in ms with sub-ms fractions,
   * enough to tell writes apart). Text, not an object of five numbers (in V8
   * each a heap number of its own): about 80 bytes a file rather than 145, compared
   * as it is by the stat cache and the no-op stamp.
   */
  stamp: string;
  /** For symlinks: the link text. */
  target?: string;
}

/**
 * One line naming a context file as a walk sees it (path, kind, mode, stat,
 * link text): a hash of these lines changes whenever any file might have.
 * The device is left out (a folder mounted again may get another).
 */
export function statLine(f: ContextFile): string {
  return `${f.path}\0${f.type}\0${f.mode}\0${f.stamp.slice(0, f.stamp.lastIndexOf(':'))}\0${f.target ?? ''}\n`;
}

// Joined, not a template: V8 keeps a template's pieces as a tree of strings until it is read whole.
const stampOf = (st: Stats): string => [st.size, st.mtimeMs, st.ctimeMs, st.ino, st.dev].join(':');

/**
 * A file modified this close to the moment it was read may be written again within the same tick of
 * the file system's clock (2 s on FAT, a jiffy on Linux before 6.13) with the same size: its stat
 * stamp cannot tell (racy git). The stat cache does not keep such rows (hash.ts), and the no-op
 * record keeps such files' hashes to check (scheduler/noop.ts).
 */
export const RACY_MS = 2000;

/** The mtime (ms) a stamp holds (its second field): 0 without one, NaN when it is not a number. */
export function stampMtimeMs(stamp: string): number {
  const a = stamp.indexOf(':');
  if (a < 0) return 0;
  const b = stamp.indexOf(':', a + 1);
  return Number(stamp.slice(a + 1, b < 0 ? stamp.length : b));
}

/** The ctime (ms) a stamp holds (its third field): 0 without one, NaN when it is not a number. */
export function stampCtimeMs(stamp: string): number {
  const a = stamp.indexOf(':', stamp.indexOf(':') + 1);
  if (a < 0) return 0;
  const b = stamp.indexOf(':', a + 1);
  return Number(stamp.slice(a + 1, b < 0 ? stamp.length : b));
}

/** The inode and device a stamp holds: the same for two names of one file. */
export function stampInode(stamp: string): string {
  let at = -1;
  for (let n = 0; n < 3; n++) at = stamp.indexOf(':', at + 1);
  return stamp.slice(at + 1);
}

export function statEntry(contextDir: string, rel: string): ContextFile | undefined {
  return entryAt(path.join(contextDir, rel), rel);
}

function entryAt(abs: string, rel: string): ContextFile | undefined {
  const st = lstatSync(abs);
  const mode = st.mode & 0o7777;
  if (st.isSymbolicLink()) {
    return { path: rel, abs, type: 'symlink', mode, size: st.size, stamp: stampOf(st), target: readlinkSync(abs) };
  }
  if (st.isFile()) return { path: rel, abs, type: 'file', mode, size: st.size, stamp: stampOf(st) };
  return undefined;
}

/**
 * The first of `files` that is no longer as the walk found it (another size,
 * mtime, ctime or inode, another mode, gone, or no longer a file or link):
 * a file written while a step was built, whose image then holds bytes other
 * than the ones its key was hashed from. Undefined when all stand as walked.
 */
export function firstChanged(files: readonly ContextFile[]): string | undefined {
  for (const f of files) {
    let st: Stats | undefined;
    try {
      st = lstatSync(f.abs, { throwIfNoEntry: false });
    } catch {
      return f.path;
    }
    const type = st?.isSymbolicLink() ? 'symlink' : st?.isFile() ? 'file' : undefined;
    if (!st || type !== f.type || (st.mode & 0o7777) !== f.mode || stampOf(st) !== f.stamp) return f.path;
  }
  return undefined;
}

/**
 * A file under one of `folders` (relative to the context) that `listed` does
 * not hold: one added while a step that copies those folders whole was built
 * (the engine copied it). Undefined when they hold what was listed; a folder
 * that cannot be walked now is named itself.
 */
export function firstAdded(contextDir: string, ignore: DockerIgnore, folders: readonly string[], listed: ReadonlySet<string>): string | undefined {
  for (const d of folders) {
    const walked = walkContext(contextDir, ignore, d);
    if (!walked.ok) return d;
    const added = walked.value.find((f) => !listed.has(f.path));
    if (added) return added.path;
  }
  return undefined;
}

/** Whether the absolute path `p` is the folder `root` or lies under it (both resolved alike). */
export const isWithin = (root: string, p: string): boolean => p === root || p.startsWith(root + path.sep);

/**
 * Where a symlink leads, if outside the context (lexically, and after
 * resolving any chain of links); undefined when it stays inside.
 */
export function symlinkEscape(contextDir: string, file: ContextFile): string | undefined {
  if (file.type !== 'symlink' || file.target === undefined) return undefined;
  return linkLeaves(realpathSync(contextDir), file.path, file.target, file.abs) ? file.target : undefined;
}

/**
 * Whether the link at `rel` under `root` (a real path), whose text is
 * `target`, leads out of it: by its text, or by where the kernel resolves it
 * (`sub/../zero` with sub -> /dev/shm is /dev/zero). A dangling link inside
 * is harmless: copied as a link. rep init asks it too (init/links.ts), so
 * that it leaves out what a build would refuse.
 */
export function linkLeaves(root: string, rel: string, target: string, abs = path.join(root, rel)): boolean {
  if (!isWithin(root, path.resolve(path.dirname(path.join(root, rel)), target))) return true;
  try {
    // The kernel's realpath: Node's own (realpathSync) joins a link's text to the path before it and folds
    // "sub/.." away by text, where the kernel goes up from where sub leads.
    return !isWithin(root, realpathSync.native(abs));
  } catch {
    return false;
  }
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Every file and symlink under `start` (a directory relative to the context,
 * "" for the root) that the .dockerignore rules keep, sorted by path.
 */
export function walkContext(contextDir: string, ignore: DockerIgnore, start = ''): Result<ContextFile[]> {
  const out: ContextFile[] = [];
  const unnamable: FileProblem[] = [];
  // Names found by readdir are plain (no "", ".", ".." or "/"): under a folder that is absolute and
  // normal, joining them by hand writes what path.join writes, without normalizing each (100 ms at 100k files).
  const prefix = path.isAbsolute(contextDir) && path.normalize(contextDir) === contextDir ? (contextDir.endsWith('/') ? contextDir : `${contextDir}/`) : undefined;
  const visit = (dirRel: string) => {
    let entries;
    try {
      entries = folderEntries(path.join(contextDir, dirRel));
    } catch (e) {
      // As BuildKit's walk: a folder it may not read is passed over where .dockerignore leaves it out
      // (an exception made rep look inside), and an error where it would be sent.
      if (dirRel !== start && ignore.excludes(dirRel)) return;
      // Removed since its parent was read (a script rewriting the folder while rep walks): gone, as a file removed so is.
      if (dirRel !== start && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
      unnamable.push({ file: dirRel || '.', message: `cannot read this folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), so Docker could not send it either; make it readable, or exclude it in .dockerignore` });
      return;
    }
    for (const d of entries) {
      const rel = dirRel ? `${dirRel}/${d.name}` : d.name;
      // rep's own state is never part of the context.
      if (rel === STATE_DIR) continue;
      if (!d.utf8) {
        // Asked of .dockerignore as Docker's Go reads the bytes, one U+FFFD for each byte of a sequence that is not
        // UTF-8 (Node's reading, one U+FFFD for a cut sequence, had "x?" leave out a name Docker sends): a name it
        // leaves out is passed over, as Docker does (an allow-list .dockerignore, `*` then `!src`, is common);
        // one it would send is an error, since rep can neither key nor copy it.
        const asGo = dirRel ? `${dirRel}/${goText(d.raw!)}` : goText(d.raw!);
        if (d.dir ? ignore.canSkipDir(asGo) : ignore.excludes(asGo)) continue;
        unnamable.push({ file: rel, message: 'a name in the build context that is not UTF-8, which rep cannot key, copy or record; rename it, or exclude it in .dockerignore' });
        continue;
      }
      if (d.dir) {
        if (!ignore.canSkipDir(rel)) visit(rel);
        continue;
      }
      if (ignore.excludes(rel)) continue;
      let f: ContextFile | undefined;
      try {
        f = prefix === undefined ? statEntry(contextDir, rel) : entryAt(prefix + rel, rel);
      } catch (e) {
        // Removed since its folder was read: gone, as it is from what Docker would send now. A link rep may not read
        // (a folder of the machine's, /proc): said with its place, as a folder it may not read is (a review: errno text).
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        unnamable.push({ file: rel, message: `cannot read it (${code ?? (e as Error).message}), so Docker could not send it either; make it readable, or exclude it in .dockerignore` });
        continue;
      }
      if (f?.type === 'symlink' && f.target?.includes('\uFFFD') && !readlinkSync(f.abs, { encoding: 'buffer' }).equals(Buffer.from(f.target))) {
        // Link texts that differ would read alike (U+FFFD), hash alike and be sent as other bytes than Docker sends.
        unnamable.push({ file: rel, message: 'a symlink whose target is not UTF-8, which rep cannot key, copy or record; point it elsewhere, or exclude it in .dockerignore' });
        continue;
      }
      if (f) out.push(f);
    }
  };
  visit(start);
  return unnamable.length ? fail(...unnamable) : ok(out.sort(byPath));
}

/** An entry of a folder: its name as text, and whether that is its bytes (else they are not UTF-8, `name` holds U+FFFD for them, and `raw` the bytes). */
export interface FolderEntry {
  name: string;
  utf8: boolean;
  dir: boolean;
  raw?: Buffer;
}

/**
 * The entries of the folder `abs`. A folder of names without U+FFFD (all of them, as a rule) is read
 * once as text; one with such a name is read once more, whole, as bytes: a name is UTF-8 when it
 * decodes without a replacement, or strictly (a real U+FFFD). Reading the folder again for each such
 * name made 10,000 of them take 96 s to walk; reading every folder as bytes cost a no-op build 3 ms
 * at 1,000 files.
 */
export function folderEntries(abs: string): FolderEntry[] {
  const text = readdirSync(abs, { withFileTypes: true });
  if (!text.some((d) => d.name.includes('\uFFFD'))) return text.map((d) => ({ name: d.name, utf8: true, dir: d.isDirectory() }));
  return readdirSync(abs, { withFileTypes: true, encoding: 'buffer' }).map((d: Dirent<Buffer>) => {
    const name = d.name.toString('utf8');
    const utf8 = !name.includes('\uFFFD') || utf8Name(d.name) !== undefined;
    return { name, utf8, dir: d.isDirectory(), ...(utf8 ? {} : { raw: d.name }) };
  });
}

export { byPath };

/**
 * The walk the quick no-op path made before it gave up, handed to the build
 * that follows it in the same process, once: the context is then walked once
 * per command, not twice. Taken only for the same folder and the same
 * .dockerignore text; a build that starts otherwise walks on its own.
 */
let handedOver: { dir: string; ignoreText: string; files: ContextFile[] } | undefined;

export function handOverWalk(contextDir: string, ignoreText: string, files: ContextFile[]): void {
  handedOver = { dir: path.resolve(contextDir), ignoreText, files };
}

/** Drops a walk handed over (the build waited for another to finish: it walks again). */
export function forgetHandedWalk(): void {
  handedOver = undefined;
}

function takeWalk(contextDir: string, ignoreText: string): ContextFile[] | undefined {
  const h = handedOver;
  handedOver = undefined;
  return h && h.dir === path.resolve(contextDir) && h.ignoreText === ignoreText ? h.files : undefined;
}

/** Every file of the context once, found by path or by folder without walking again. */
export class ContextIndex {
  private readonly byPath: Map<string, ContextFile>;
  constructor(readonly files: readonly ContextFile[]) {
    this.byPath = new Map(files.map((f) => [f.path, f]));
  }

  /** The context's files; `ignoreText` (the .dockerignore `ignore` was read from) lets it take a walk handed over. */
  static walk(contextDir: string, ignore: DockerIgnore, ignoreText?: string): Result<ContextIndex> {
    const handed = ignoreText === undefined ? undefined : takeWalk(contextDir, ignoreText);
    if (handed) return ok(new ContextIndex(handed));
    const files = walkContext(contextDir, ignore);
    return files.ok ? ok(new ContextIndex(files.value)) : files;
  }

  get(path: string): ContextFile | undefined {
    return this.byPath.get(path);
  }

  /** Files under folder `dir` ("" for all), sorted (the files are sorted, so they are one run). */
  under(dir: string): ContextFile[] {
    if (dir === '') return [...this.files];
    const prefix = `${dir}/`;
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.files[mid]!.path < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: ContextFile[] = [];
    for (let i = lo; i < this.files.length && this.files[i]!.path.startsWith(prefix); i++) out.push(this.files[i]!);
    return out;
  }
}
