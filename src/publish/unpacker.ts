// Unpacking one archive entry at a time into a folder rep owns, as extract.ts
// reads them: every name a plain relative path, no name twice, nothing written
// through a link (each parent lstat'ed, files created O_CREAT|O_EXCL|O_NOFOLLOW),
// links only where allowed and only to targets inside the folder, and the
// bounds on entries, bytes and expansion checked before each write.
import { closeSync, constants, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { GiB, RATIO_SLACK, type Limits } from './limits.js';
import { pathProblem, shown } from './bundlefs.js';
import { formatSize } from '../safefs.js';

/** A bundle or archive rep refuses to unpack, with why: a user-facing message. */
export class ExtractError extends Error {}

export interface ExtractOptions {
  /** The archive as messages name it: "paper.tar.gz", "context.tar". */
  label: string;
  limits: Limits;
  /** Whether symbolic and hard links (inside the folder) may be unpacked: yes for context.tar; a bundle holds regular files only. */
  links: boolean;
  /** Why an entry is refused by its name, if it is (context.tar: rep's own .rep/). */
  refuse?: (name: string) => string | undefined;
  /** The archive's size, for the expansion bound. */
  archiveSize: number;
}

/** The state of one extraction: what was made, how much, and the one file open for writing. */
export class Unpacker {
  private readonly seen = new Set<string>();
  private readonly files = new Set<string>();
  private entries = 0;
  private bytes = 0;
  private open: number | undefined;

  constructor(
    private readonly root: string,
    private readonly o: ExtractOptions,
  ) {}

  private error(message: string): ExtractError {
    return new ExtractError(`${this.o.label}: ${message}`);
  }

  /**
   * The entry's name made plain ("./a/b/" -> "a/b"), or undefined for the
   * archive's own root ("./"), a folder. Anything else by that name is
   * refused: passed over here, GNU tar writes it over the folder it unpacks into.
   */
  name(raw: string, folder: boolean): string | undefined {
    const name = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (name === '' && raw !== '' && /^[./]*$/.test(raw) && !raw.startsWith('/')) {
      if (folder) return undefined;
      throw this.error(`entry "${shown(raw)}" names the archive's own folder but is not a folder`);
    }
    const bad = raw.startsWith('/') ? 'it is absolute' : pathProblem(name);
    if (bad) throw this.error(`entry "${shown(raw)}" is not a plain relative path: ${bad}`);
    const why = this.o.refuse?.(name);
    if (why) throw this.error(`entry ${shown(raw)}: ${why}`);
    if (++this.entries > this.o.limits.maxEntries) {
      throw this.error(`holds more than ${this.o.limits.maxEntries} entries; if you trust it, raise the bound with --max-files N`);
    }
    if (this.seen.has(name)) throw this.error(`entry ${shown(name)} appears twice`);
    this.seen.add(name);
    return name;
  }

  /** Makes every parent folder of `name`, refusing to go through a link or a file. */
  private parents(name: string): void {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const abs = path.join(this.root, rel);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (!st) mkdirSync(abs, { mode: 0o755 });
      else if (st.isSymbolicLink()) throw this.error(`entry ${shown(name)} goes through the link ${shown(rel)}`);
      else if (!st.isDirectory()) throw this.error(`entry ${shown(name)} is under ${shown(rel)}, which is a file`);
    }
  }

  private exists(name: string): ExtractError {
    const st = lstatSync(path.join(this.root, name), { throwIfNoEntry: false });
    return this.error(`entry ${shown(name)} comes after entries under it, as if ${shown(name)} were a ${st?.isDirectory() ? 'folder' : 'file'}`);
  }

  dir(name: string): void {
    this.parents(name);
    const st = lstatSync(path.join(this.root, name), { throwIfNoEntry: false });
    if (!st) mkdirSync(path.join(this.root, name), { mode: 0o755 });
    else if (!st.isDirectory()) throw this.exists(name);
  }

  /** Creates the file `name` (never one that exists, never through a link); write() and close() fill it. */
  file(name: string, mode: number | undefined, declaredSize = 0): void {
    this.parents(name);
    this.grow(declaredSize, false);
    try {
      this.open = openSync(path.join(this.root, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, (mode ?? 0o644) & 0o777 || 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw this.exists(name);
      throw e;
    }
    this.files.add(name);
  }

  write(chunk: Buffer): void {
    this.grow(chunk.length, true);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.open!, chunk, off);
  }

  close(): void {
    if (this.open !== undefined) closeSync(this.open);
    this.open = undefined;
  }

  /** Counts bytes written (or about to be: a declared size), and stops at a bound. */
  private grow(n: number, written: boolean): void {
    const { maxBytes, maxRatio } = this.o.limits;
    const total = this.bytes + n;
    if (written) this.bytes = total;
    if (total > maxBytes) throw this.error(`holds more than ${formatSize(maxBytes)}; if you trust it, raise the bound with --max-size SIZE (e.g. --max-size ${Math.ceil((maxBytes * 2) / GiB)}G)`);
    if (total + 512 * this.entries > maxRatio * this.o.archiveSize + RATIO_SLACK) {
      throw this.error(
        `expands to more than ${maxRatio} times its size (${formatSize(this.o.archiveSize)}) plus ${formatSize(RATIO_SLACK)}, as an archive bomb does; if you trust it, raise the bound with --max-ratio N`,
      );
    }
  }

  symlink(name: string, target: string): void {
    if (!this.o.links) throw this.error(`entry ${shown(name)} is a symbolic link; a bundle holds regular files only`);
    const problem = linkTargetProblem(name, target);
    if (problem) throw this.error(`entry ${shown(name)} links to "${shown(target)}": ${problem}`);
    this.parents(name);
    try {
      symlinkSync(target, path.join(this.root, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw this.exists(name);
      throw e;
    }
  }

  hardlink(name: string, target: string): void {
    if (!this.o.links) throw this.error(`entry ${shown(name)} is a hard link; a bundle holds regular files only`);
    const to = target.replace(/^(\.\/)+/, '');
    if (pathProblem(to) || !this.files.has(to)) throw this.error(`entry ${shown(name)} is a hard link to "${shown(target)}", which is not a file unpacked before it`);
    this.parents(name);
    try {
      linkSync(path.join(this.root, to), path.join(this.root, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw this.exists(name);
      throw e;
    }
  }

  other(name: string, type: string): never {
    throw this.error(`entry ${shown(name)} is a ${type}; rep unpacks files, folders and links only`);
  }
}

/**
 * Why a symbolic link at `name` may not point at `target`, if it may not: the
 * target must be relative, go up ("..") only at its start and never above the
 * archive's root, then down through plain names. A ".." after a name could
 * climb out through another link ("d/../x" where d is a link), so it is refused.
 */
export function linkTargetProblem(name: string, target: string): string | undefined {
  if (target === '') return 'an empty target';
  if (target.startsWith('/')) return 'an absolute target, outside the archive';
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return 'a control character or backslash in the target';
  const segs = target.split('/').filter((s) => s !== '' && s !== '.');
  let up = 0;
  while (up < segs.length && segs[up] === '..') up++;
  if (segs.slice(up).includes('..')) return 'a ".." after a name; a link may go up only at the start of its target';
  if (up > name.split('/').length - 1) return 'a target outside the archive';
  return undefined;
}
